//! Who may use switchyard, and where it may tunnel to.
//!
//! [`clients`] authenticates callers (proxy and gateway requests alike);
//! [`tunnel`] decides which blind-tunnel destinations a shared proxy allows.

pub mod clients;
pub mod tunnel;

pub use clients::{ClientName, Clients};
pub use tunnel::TunnelPolicy;
