//! The files compiled into the binary from `assets/` (see build.rs), and the handler that
//! serves `assets/static/*` under `/static/` with a content hash as ETag.

use rouille::{Request, Response};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// The bytes of an embedded file by its path under `assets/`, e.g. `templates/base.html`.
pub fn file(path: &str) -> Option<&'static [u8]> {
    lookup(path).map(|(_, bytes)| bytes)
}

fn lookup(path: &str) -> Option<(&'static str, &'static [u8])> {
    embedded::FILES
        .binary_search_by(|(name, _, _)| (*name).cmp(path))
        .ok()
        .map(|i| (embedded::FILES[i].1, embedded::FILES[i].2))
}

/// Every embedded file under `prefix` (e.g. `templates/`), as (path without prefix, bytes).
pub fn files_under(prefix: &str) -> impl Iterator<Item = (&'static str, &'static [u8])> + '_ {
    embedded::FILES
        .iter()
        .filter_map(move |(name, _, bytes)| name.strip_prefix(prefix).map(|rest| (rest, *bytes)))
}

/// Serves `/static/<path>`; None when no such file exists.
pub fn serve_static(request: &Request) -> Option<Response> {
    let path = request.url();
    let name = path.strip_prefix("/static/")?;
    if name.contains("..") {
        return None;
    }
    let (mime, bytes) = lookup(&format!("static/{name}"))?;
    let etag = format!("\"{}\"", hex::encode(&crate::crypto::sha256(bytes)[..12]));
    if request.header("If-None-Match") == Some(etag.as_str()) {
        return Some(
            Response::empty_204()
                .with_status_code(304)
                .with_unique_header("ETag", etag),
        );
    }
    Some(
        Response::from_data(mime, bytes)
            .with_unique_header("ETag", etag)
            .with_unique_header("Cache-Control", "public, max-age=3600, must-revalidate"),
    )
}
