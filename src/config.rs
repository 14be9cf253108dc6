//! Command line and config file.
