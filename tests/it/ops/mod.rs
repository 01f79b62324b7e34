//! Operating the real binary on a hostile, crashing network (issue 6): acknowledged sends
//! survive SIGKILL, SIGTERM lets requests in flight finish, clients that stop reading are
//! dropped by the write timeout without starving anyone, HTTPS end to end with a self-signed
//! certificate, the log files (one fail2ban-matchable line per failed login, no secrets, no
//! forged lines, access lines), and the retention purge of the housekeeping thread.
//!
//! Everything here talks to the `messages` binary over sockets or runs its commands; only the
//! retention test also opens the stopped server's database through the library, to plant
//! records that are already old (the clock cannot be moved from outside). The helpers come
//! from `crate::util`: `api` for requests and members, `tls` for the certificate, `dump` for
//! dumps.

mod disk_full;
mod durability;
mod logs;
mod network;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::api::{
    PASSWORD, basic, call, create_token, expect, get_ok, member, message_id, register,
    registration, send, token, try_request, try_send,
};
use crate::util::client::{self, Client, Response};
use crate::util::dump::dump_to;
use crate::util::tls::{self_signed, tls_request};
use crate::util::{self, PIN, Server, eventually, files_under, run, stderr, stdout};
