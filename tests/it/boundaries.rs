//! The architecture's boundaries, checked on the source rather than hoped for (the
//! invariants of ARCHITECTURE.md): only `src/store/` names redb or postgres (and the
//! benchmark's `bin/bench/postgres.rs`, which makes its own database), only `src/http/` names
//! rouille, `src/app/` and `src/store/` never name our `http` module or the commands, and
//! `src/store/` never names `app`. A test fails naming the file, the line and the rule broken.
//!
//! It reads the files under `src/` as text and starts nothing. What counts is a path in code:
//! `redb::X`, `use redb;`, `crate::http::...`, `crate::{http, ...}`, and `super::` paths resolved
//! from the file's own module. Comments, doc comments and string literals are blanked first, so
//! a mention there (`src/bin/bench.rs` explains redb's commits in a comment, `src/commands/
//! data.rs` names a `.redb` scratch file in a string) is no use. `src/bin/` and `src/fuzzing/`
//! may name any public module of the library, but not redb or rouille, like everything else.

use std::fs;
use std::path::{Path, PathBuf};

/// What a path in code names first: one of the crate's own top-level modules (`crate::http`,
/// or a `super::` path that resolves into it), or anything else by its first segment (an
/// external crate such as `redb`, but also `std`, a type, an enum).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Name {
    Module(String),
    External(String),
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Name::Module(m) => write!(f, "crate::{m}"),
            Name::External(n) => write!(f, "{n}"),
        }
    }
}

/// One boundary: the files it holds for (by path under `src/`) and what they may not name.
struct Rule {
    says: &'static str,
    holds_for: fn(&str) -> bool,
    forbids: fn(&Name) -> bool,
}

fn is_external(name: &Name, crate_name: &str) -> bool {
    matches!(name, Name::External(n) if n == crate_name)
}

fn is_module(name: &Name, module: &str) -> bool {
    matches!(name, Name::Module(m) if m == module)
}

const RULES: &[Rule] = &[
    Rule {
        says: "only src/store/ may name redb",
        holds_for: |path| !path.starts_with("store/"),
        forbids: |name| is_external(name, "redb"),
    },
    Rule {
        says: "only src/store/ (and the benchmark's own database) may name postgres",
        holds_for: |path| !path.starts_with("store/") && path != "bin/bench/postgres.rs",
        forbids: |name| is_external(name, "postgres") || is_external(name, "tokio_postgres_rustls"),
    },
    Rule {
        says: "only src/http/ may name rouille",
        holds_for: |path| !path.starts_with("http/"),
        forbids: |name| is_external(name, "rouille"),
    },
    Rule {
        // No crate called `http` is a dependency, so a bare `http::` path here can only be ours.
        says: "src/app/ and src/store/ may not name the http module",
        holds_for: |path| path.starts_with("app/") || path.starts_with("store/"),
        forbids: |name| is_module(name, "http") || is_external(name, "http"),
    },
    Rule {
        says: "src/app/ and src/store/ may not name the commands",
        holds_for: |path| path.starts_with("app/") || path.starts_with("store/"),
        forbids: |name| is_module(name, "commands"),
    },
    Rule {
        says: "src/store/ may not name app",
        holds_for: |path| path.starts_with("store/"),
        forbids: |name| is_module(name, "app"),
    },
];

/// Uses that break a rule on purpose, each with its reason (file under `src/`, rule). An
/// exception that no longer matches anything fails the test too, so none outlives its reason.
const EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "store/dump/proptests.rs",
    "src/store/ may not name app",
    "a #[cfg(test)] module: it makes the demo data through App, as a server would have stored \
     it, to have a real dump to mutate",
)];

#[test]
fn no_module_names_what_it_must_not() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    let mut excepted = vec![false; EXCEPTIONS.len()];
    let (mut store_names_redb, mut http_names_rouille) = (false, false);
    let files = rust_files(&src);
    assert!(files.len() > 40, "only {} files under src/", files.len());
    for file in &files {
        let path = file
            .strip_prefix(&src)
            .expect("under src/")
            .to_str()
            .expect("a UTF-8 path")
            .replace('\\', "/");
        let source = fs::read_to_string(file).expect("a readable source file");
        for (line, name) in names(&source, &module_of(&path)) {
            store_names_redb |= path.starts_with("store/") && is_external(&name, "redb");
            http_names_rouille |= path.starts_with("http/") && is_external(&name, "rouille");
            for rule in RULES {
                if !(rule.holds_for)(&path) || !(rule.forbids)(&name) {
                    continue;
                }
                match EXCEPTIONS
                    .iter()
                    .position(|(file, says, _)| *file == path && *says == rule.says)
                {
                    Some(i) => excepted[i] = true,
                    None => broken.push(format!(
                        "src/{path}:{line}: {}; this names `{name}`",
                        rule.says
                    )),
                }
            }
        }
    }
    // Had the scanner gone blind, every rule would hold; it must see the uses that are allowed.
    assert!(store_names_redb, "no use of redb found in src/store/");
    assert!(http_names_rouille, "no use of rouille found in src/http/");
    broken.dedup();
    assert!(
        broken.is_empty(),
        "module boundaries broken (ARCHITECTURE.md, invariants):\n{}",
        broken.join("\n")
    );
    for ((file, says, why), used) in EXCEPTIONS.iter().zip(excepted) {
        assert!(
            used,
            "the exception for src/{file} ({says}: {why}) is no longer needed"
        );
    }
}

/// The scanner on one sample: mentions in comments, doc comments, strings, raw strings and
/// char literals are not uses; real paths are, with `super::` resolved from the module.
#[test]
fn the_scanner_sees_paths_in_code_and_nothing_else() {
    let sample = r##"//! Docs that say redb::Database and use rouille; are not code.
/* use redb::Database; /* nested */ use rouille::Response; */
const FILE: &str = "messages-verify-0.redb and redb::Database";
const RAW: &str = r#"use redb::Database; "quoted""#;
const QUOTE: char = '"'; // a quote that must not open a string: use redb::X;
const ESCAPED: char = '\''; fn keep<'a>(x: &'a str) -> &'a str { x }
use redb::Database;
fn answer() -> crate::http::Response { respond() }
use crate::{model::Username, http::{server, pages}};
use super::super::commands;
use super::app_local;
mod tests {
    use super::super::super::app::App;
}
"##;
    let found: Vec<(usize, Name)> = names(sample, &["store", "dump"])
        .into_iter()
        .filter(|(_, name)| {
            let (Name::Module(n) | Name::External(n)) = name;
            [
                "redb", "rouille", "http", "model", "commands", "store", "app",
            ]
            .contains(&n.as_str())
        })
        .collect();
    let module = |n: &str| Name::Module(n.to_string());
    assert_eq!(
        found,
        [
            (7, Name::External("redb".to_string())),
            (8, module("http")),
            (9, module("model")),
            (9, module("http")),
            (10, module("commands")),
            (11, module("store")),
            (13, module("app")),
        ]
    );
    // From the crate's top-level module file, `super::` is the crate itself.
    assert_eq!(
        names("use super::http::X;", &["store"]),
        [(1, module("http"))]
    );
    // A leading `::` names an external crate; a visibility is no path.
    assert_eq!(
        names("pub(crate) use ::rouille::Request;", &["app"]),
        [(1, Name::External("rouille".to_string()))]
    );
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in fs::read_dir(&next).expect("a readable directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The module a file under `src/` holds: `lib.rs` and `main.rs` the crate root, `a/mod.rs`
/// module `a`, `a/b.rs` module `a::b`.
fn module_of(path: &str) -> Vec<String> {
    let stem = path.strip_suffix(".rs").unwrap_or(path);
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Each path in the code of `source` (a file of module `module`) with the line it starts on
/// and what it names first.
fn names<S: AsRef<str>>(source: &str, module: &[S]) -> Vec<(usize, Name)> {
    let tokens = tokens(&code_only(source));
    let mut modules: Vec<(String, usize)> = Vec::new(); // inline `mod x {`, with its depth
    let mut here: Vec<String> = module.iter().map(|m| m.as_ref().to_string()).collect();
    let mut depth = 0;
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (token, line) = &tokens[i];
        match token {
            Token::Open => {
                depth += 1;
                if let [.., (Token::Ident(m), _), (Token::Ident(name), _)] = &tokens[..i]
                    && m == "mod"
                {
                    modules.push((name.clone(), depth));
                    here.push(name.clone());
                }
            }
            Token::Close => {
                if modules.last().is_some_and(|(_, d)| *d == depth) {
                    modules.pop();
                    here.pop();
                }
                depth -= 1;
            }
            Token::Ident(first) if starts_path(&tokens, i) => {
                i = path_at(&tokens, i, first, *line, &here, &mut found);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// Keywords that can stand before a path with a leading `::` (`use ::redb::X`), so that the
/// `::` after them does not join them to the path.
const KEYWORDS: &[&str] = &[
    "as", "const", "dyn", "for", "impl", "in", "let", "mut", "pub", "return", "static", "use",
    "where",
];

/// Whether the identifier at `i` begins a path (it does not follow `a::`, `<T>::` or `x.`).
fn starts_path(tokens: &[(Token, usize)], i: usize) -> bool {
    match i.checked_sub(1).map(|p| &tokens[p].0) {
        Some(Token::Colons) => match i.checked_sub(2).map(|p| &tokens[p].0) {
            Some(Token::Ident(before)) => KEYWORDS.contains(&before.as_str()),
            Some(Token::Other('>')) => false,
            _ => true,
        },
        Some(Token::Other('.')) => false,
        _ => true,
    }
}

/// Reads the path whose first segment `first` is at `i`, adds what it names to `found`, and
/// returns the index after what it read.
fn path_at(
    tokens: &[(Token, usize)],
    i: usize,
    first: &str,
    line: usize,
    here: &[String],
    found: &mut Vec<(usize, Name)>,
) -> usize {
    let colons_at = |j: usize| matches!(tokens.get(j), Some((Token::Colons, _)));
    let ident_at = |j: usize| match tokens.get(j) {
        Some((Token::Ident(s), l)) => Some((s.as_str(), *l)),
        _ => None,
    };
    if KEYWORDS.contains(&first) {
        return i + 1;
    }
    let leading_colons = i > 0 && colons_at(i - 1);
    let after_use = i > 0 && matches!(ident_at(i - 1), Some(("use", _)));
    if leading_colons || !matches!(first, "crate" | "super" | "self") {
        if colons_at(i + 1) || after_use || leading_colons {
            found.push((line, Name::External(first.to_string())));
        }
        return i + 1;
    }
    // `crate`, `super` or `self`: walk to the module the path starts from.
    let mut base: Vec<String> = if first == "crate" {
        Vec::new()
    } else {
        here.to_vec()
    };
    let mut j = i;
    loop {
        match ident_at(j) {
            Some(("super", _)) if base.pop().is_none() => return j + 1,
            Some(("super" | "self" | "crate", _)) => {}
            _ => break,
        }
        if !colons_at(j + 1) {
            return j + 1; // `self.x`, `pub(crate)`: no path
        }
        j += 2;
    }
    let top = |name: &str| base.first().cloned().unwrap_or_else(|| name.to_string());
    match tokens.get(j) {
        Some((Token::Ident(name), line)) => {
            found.push((*line, Name::Module(top(name))));
            j + 1
        }
        Some((Token::Open, _)) => {
            // A group: the first segment of each item in it.
            let mut depth = 0;
            let mut item_starts = true;
            while let Some((token, line)) = tokens.get(j) {
                match token {
                    Token::Open => depth += 1,
                    Token::Close => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    Token::Other(',') if depth == 1 => item_starts = true,
                    Token::Ident(name) if depth == 1 && item_starts => {
                        item_starts = false;
                        if name != "self" {
                            found.push((*line, Name::Module(top(name))));
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            j
        }
        _ => j, // a glob or something odd: nothing named
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    Colons,
    Open,
    Close,
    Other(char),
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The tokens of code (comments and literals already blanked), each with its line.
fn tokens(code: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
        } else if is_ident_char(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), line));
            continue;
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Token::Colons, line));
            i += 2;
            continue;
        } else if c == '{' {
            out.push((Token::Open, line));
        } else if c == '}' {
            out.push((Token::Close, line));
        } else if !c.is_whitespace() {
            out.push((Token::Other(c), line));
        }
        i += 1;
    }
    out
}

/// `source` with every comment, string literal and char literal replaced by spaces (line breaks
/// kept, so lines still count the same).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, from: &[char]| {
        out.extend(from.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
    };
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let after_ident = i > 0 && is_ident_char(chars[i - 1]);
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&c| c == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            block_comment_len(rest)
        } else if let Some(n) = raw_string_len(rest).filter(|_| !after_ident) {
            n
        } else if rest[0] == '"' {
            string_len(rest)
        } else if rest[0] == '\'' && rest.get(1) == Some(&'\\') {
            // An escaped char literal: '\n', '\'', '\u{202E}'.
            3 + rest[3..]
                .iter()
                .position(|&c| c == '\'')
                .unwrap_or(rest.len() - 3)
        } else if rest[0] == '\'' && rest.get(2) == Some(&'\'') {
            3 // 'x'; otherwise a lifetime, which is code
        } else {
            out.push(rest[0]);
            i += 1;
            continue;
        };
        let end = end.min(rest.len());
        blank(&mut out, &rest[..end]);
        i += end;
    }
    out
}

/// The length of the (nested) block comment `text` starts with.
fn block_comment_len(text: &[char]) -> usize {
    let (mut depth, mut i) = (0, 0);
    while i < text.len() {
        if text[i..].starts_with(&['/', '*']) {
            depth += 1;
            i += 2;
        } else if text[i..].starts_with(&['*', '/']) {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// The length of the raw string (`r"…"`, `r#"…"#`, `br"…"`, `cr"…"`) `text` starts with.
fn raw_string_len(text: &[char]) -> Option<usize> {
    let mut i = match text {
        ['r', ..] => 1,
        ['b' | 'c', 'r', ..] => 2,
        _ => return None,
    };
    let hashes = text[i..].iter().take_while(|&&c| c == '#').count();
    i += hashes;
    if text.get(i) != Some(&'"') {
        return None;
    }
    let closing: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    let body = i + 1;
    let close = (body..text.len()).find(|&j| text[j..].starts_with(&closing))?;
    Some(close + closing.len())
}

/// The length of the string literal `text` starts with (at its opening quote).
fn string_len(text: &[char]) -> usize {
    let mut i = 1;
    while i < text.len() {
        match text[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}
