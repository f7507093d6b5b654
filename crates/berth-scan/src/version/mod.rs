//! Version comparison per ecosystem.
