//! Carnet: a CRM and service desk. See `docs/architecture.md` for the layout.

pub mod access;
pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod customers;
pub mod db;
pub mod demo;
pub mod email;
pub mod error;
pub mod http;
pub mod i18n;
pub mod identity;
pub mod jobs;
pub mod lists;
pub mod mail;
pub mod org;
pub mod partners;
pub mod portal;
pub mod sales;
pub mod search;
pub mod service;
pub mod settings;
pub mod views;
pub mod wiring;
