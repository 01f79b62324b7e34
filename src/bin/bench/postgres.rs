//! `bench --database URL`: the 1x scenarios again with the server on PostgreSQL, in the same
//! run as on the embedded store, so the two sit side by side in one table (rows of the second
//! start with "pg "). The benchmark makes a database of its own on that server and drops it
//! afterwards; it never touches another.

use crate::Bench;

/// The store the scenarios run on: the embedded one (no prefix), or a PostgreSQL database.
#[derive(Default)]
pub struct On {
    pub prefix: String,
    database: Option<String>,
    /// The worst read p99 of this store's rows, and which row.
    pub worst_read_p99: (f64, String),
}

impl On {
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The `serve` flags that put the server on this store.
    pub fn serve_args(&self) -> Vec<String> {
        match &self.database {
            Some(url) => vec!["--database".into(), url.clone()],
            None => Vec::new(),
        }
    }

    /// Keeps the worst read p99, per store: the embedded one in `embedded`, PostgreSQL's here.
    pub fn read_p99(&mut self, p99: f64, name: &str, embedded: &mut (f64, String)) {
        let worst = match self.database {
            Some(_) => &mut self.worst_read_p99,
            None => embedded,
        };
        if p99 > worst.0 {
            *worst = (p99, name.to_string());
        }
    }
}

/// The database URL `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// Runs `sql` on the server `url` names (its own database), for creating and dropping ours.
fn admin(url: &str, sql: &str) -> anyhow::Result<()> {
    let plain = url.split('?').next().unwrap_or(url);
    let mut client =
        postgres::Client::connect(&format!("{plain}?sslmode=disable"), postgres::NoTls)
            .or_else(|_| postgres::Client::connect(url, postgres::NoTls))?;
    client.batch_execute(sql)?;
    Ok(())
}

impl Bench {
    /// The 1x scenarios on a fresh PostgreSQL database of the server `url` names.
    pub(crate) fn postgres_phase(&mut self, url: &str) -> anyhow::Result<()> {
        let name = format!("messages_bench_{}", std::process::id());
        admin(url, &format!("DROP DATABASE IF EXISTS {name}"))?;
        admin(url, &format!("CREATE DATABASE {name}"))?;
        eprintln!("PostgreSQL: database {name}");
        let embedded_data = self.work_dir.join("data-1x");
        let _ = std::fs::remove_dir_all(&embedded_data);
        self.on = On {
            prefix: "pg ".into(),
            database: Some(with_database(url, &name)?),
            worst_read_p99: (0.0, String::new()),
        };
        let ran = self.base_phase();
        let worst = self.on.worst_read_p99.clone();
        self.on = On::default();
        self.pg_worst_read_p99 = worst;
        if let Err(e) = admin(url, &format!("DROP DATABASE IF EXISTS {name}")) {
            eprintln!("bench: could not drop {name}: {e}");
        }
        ran
    }
}

impl Bench {
    /// The PostgreSQL targets of issue 15, beside the embedded figures of the same run.
    pub(crate) fn print_postgres_targets(&self) {
        let f = |name: &str| self.figures.get(name).copied();
        if self.pg_worst_read_p99.0 == 0.0 {
            return;
        }
        println!();
        println!("PostgreSQL beside the embedded store, same run (issue 15), informational only:");
        for name in [
            super::scenarios::INBOX,
            super::scenarios::API_LIST,
            super::scenarios::MESSAGE,
        ] {
            if let (Some(pg), Some(embedded)) = (f(&format!("pg {name}")), f(name)) {
                println!(
                    "  pg / embedded, {name:<26} {:>6.0}%   (inbox target >= 20%)",
                    pg / embedded * 100.0
                );
            }
        }
        for name in [super::scenarios::FORM_SEND, super::scenarios::API_SEND] {
            if let Some(rate) = f(&format!("pg {name}")) {
                println!("  pg {name:<32} {rate:>6.0}/s   (target >= 1000/s)");
            }
        }
        println!(
            "  pg worst read p99                {:>6.2} ms ({})   (target < 50 ms)",
            self.pg_worst_read_p99.0, self.pg_worst_read_p99.1
        );
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_is_swapped_and_the_options_kept() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres?sslmode=disable", "b").unwrap(),
            "postgres://u@h:5/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h", "b").unwrap(),
            "postgres://u@h/b"
        );
    }
}
