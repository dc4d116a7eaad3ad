//! The Workspace API: the tree of directories, files and notebooks (`tree`), its HTTP
//! routes (`routes`), and notebook detection/format conversion (`notebook`).

pub mod notebook;
pub mod routes;
pub mod tree;
