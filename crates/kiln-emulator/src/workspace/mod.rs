//! The Workspace API: the tree of directories, files and notebooks (`tree`), who may read and
//! write where (`access`), its HTTP routes (`routes`), and notebook detection/format conversion (`notebook`).

pub mod access;
pub mod notebook;
pub mod routes;
pub mod tree;
