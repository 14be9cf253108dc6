//! rtnetlink: links, addresses and neighbours of the configured interfaces.
