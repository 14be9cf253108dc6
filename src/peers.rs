//! The peer table: the seam between discovery and BGP.
