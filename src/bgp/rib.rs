//! Loc-RIB and Adj-RIBs (work in progress).
