//! UPDATE codec (work in progress).
