//! `cargo xtask dist`: the static musl binary (see the dist brief).
use anyhow::Result;
pub fn main(_args: &[String]) -> Result<()> {
    anyhow::bail!("not built yet")
}
