//! `messages rotate-key`: re-encrypts every sealed record under a new key.
//!
//! Not built yet: the command refuses with a clear message until the operations work lands.

use std::path::Path;

pub fn run(_data_dir: &Path) -> anyhow::Result<()> {
    anyhow::bail!("rotate-key is not available in this build yet")
}
