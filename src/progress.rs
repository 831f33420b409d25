//! Progress reporting: a bar on a terminal, plain periodic lines otherwise, nothing when quiet.
