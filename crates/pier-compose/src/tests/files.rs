//! Discovery, env files, merging, extends, profiles.
