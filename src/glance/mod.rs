//! OpenStack Glance: Keystone v3 authentication and the Images v2 API.
