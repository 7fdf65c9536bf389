//! On-disk signature probe (owned by the probe work; see the brief).
