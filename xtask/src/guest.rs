//! `cargo xtask guest`: the QEMU guest image (see the guest brief).
use anyhow::Result;
pub fn main(_args: &[String]) -> Result<()> {
    anyhow::bail!("not built yet")
}
