//! End-to-end tests: one binary, a real server and a fresh database per test. SQLite by
//! default; PostgreSQL when `KEYHOLDER_TEST_POSTGRES_URL` is set.

mod harness;
mod smtp;

mod accounts;
mod alerts;
mod audit;
mod auth;
mod catalogue;
mod categories;
mod contract;
mod decisions;
mod differential;
mod groups;
mod hardening;
mod integrations;
mod logs;
mod metrics;
mod people;
mod replicas;
mod scim;
mod side_doors;
mod sso;
mod statements;
mod students;
mod tenancy;
mod tokens;
mod users;
