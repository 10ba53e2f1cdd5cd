//! One module per subcommand.

pub mod bm25;
pub mod common;
pub mod dense;
pub mod diagnose;
pub mod embed;
pub mod eval;
pub mod index;
pub mod quickstart;
pub mod report;
pub mod run;
pub mod search;
pub mod serve;
pub mod train;
