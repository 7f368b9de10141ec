//! Integration tests of the HTTP axon over loopback.
#![allow(clippy::unwrap_used)]

mod common;
mod interop;
mod load;
mod statuscases;
mod statuses;
