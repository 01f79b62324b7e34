//! A minimal WebDriver client (raw HTTP/JSON to chromedriver) for the browser tests.

#![allow(dead_code)]
