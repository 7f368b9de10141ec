//! Integration suite.

mod agreement;
