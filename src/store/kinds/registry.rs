//! `registry!`: from the one list of stored kinds in `kinds/mod.rs`, the dump's `Line` enum
//! and every function that goes over all kinds (dump, check, restore, consistency, tables,
//! re-sealing), each in the list's order.
//!
//! This file holds no kind and no table: only the shape the list expands to. The header and
//! the trailer are the two lines of a dump that are no stored kind; they stay fixed here. The
//! expansion names `Kind`, `Rx`, `Tx`, `Result` and `Resealer` as `kinds/mod.rs` imports them.

macro_rules! registry {
    ($($name:literal => $variant:ident($kind:ty) in [$($table:ident),+],)+) => {
        /// One line of a dump: the header, a row of one stored kind, or the trailer. Its JSON
        /// is the dump format: internally tagged by `kind`, variants in dump order.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "kind", deny_unknown_fields)]
        pub enum Line {
            #[serde(rename = "header")]
            Header {
                format: String,
                version: u32,
                schema_version: u64,
                key_fingerprint: String,
                created_at: String,
            },
            $(
                #[serde(rename = $name)]
                $variant(<$kind as Kind>::Row),
            )+
            #[serde(rename = "trailer")]
            Trailer {
                counts: std::collections::BTreeMap<String, u64>,
                sha256: String,
            },
        }

        impl Line {
            /// The line's `kind`, as the trailer counts it.
            pub fn kind(&self) -> &'static str {
                match self {
                    Line::Header { .. } => "header",
                    $(Line::$variant(_) => $name,)+
                    Line::Trailer { .. } => "trailer",
                }
            }

            /// The field checks of the line's kind.
            pub fn check(&self) -> std::result::Result<(), String> {
                match self {
                    $(Line::$variant(row) => <$kind as Kind>::check(row),)+
                    Line::Header { .. } | Line::Trailer { .. } => Ok(()),
                }
            }
        }

        /// Rows of one kind that follow each other in a dump: restored together, so a kind
        /// opens its tables once per run (a dump is ordered by kind, so once per batch).
        pub enum Run {
            $($variant(Vec<<$kind as Kind>::Row>),)+
        }

        impl Run {
            /// Adds `line` to the last run of `runs` if it is of the same kind, else starts a
            /// new run; the header and the trailer are no rows and are left out.
            pub fn push_onto(runs: &mut Vec<Run>, line: Line) {
                let line = match (runs.last_mut(), line) {
                    $((Some(Run::$variant(rows)), Line::$variant(row)) => return rows.push(row),)+
                    (_, line) => line,
                };
                match line {
                    $(Line::$variant(row) => runs.push(Run::$variant(vec![row])),)+
                    Line::Header { .. } | Line::Trailer { .. } => {}
                }
            }

            pub fn restore(self, tx: &Tx<'_>) -> Result<()> {
                match self {
                    $(Run::$variant(rows) => <$kind as Kind>::restore(tx, rows),)+
                }
            }
        }

        /// Opens every table of every kind, creating it, so a read transaction never meets a
        /// missing one.
        pub fn create_tables(tx: &Tx<'_>) -> Result<()> {
            $($(tx.create($crate::store::tables::$table)?;)+)+
            Ok(())
        }

        /// Every table's name, for the PostgreSQL schema.
        pub const TABLE_NAMES: &[&str] = &[$($($crate::store::tables::$table.name,)+)+];

        /// Hands every row of the snapshot to `emit` as a line, kind after kind in dump order.
        pub fn dump_all(rx: &Rx, emit: &mut dyn FnMut(Line) -> Result<()>) -> Result<()> {
            $(<$kind as Kind>::dump(rx, &mut |row| emit(Line::$variant(row)))?;)+
            Ok(())
        }

        /// Every kind's rule for a restored file, in dump order; the first broken one is told.
        pub fn check_restored(rx: &Rx) -> Result<()> {
            $(<$kind as Kind>::check_restored(rx)?;)+
            Ok(())
        }

        /// Re-seals every sealed value of every kind; returns how many were re-sealed.
        pub fn reseal_all(tx: &Tx<'_>, reseal: &mut Resealer<'_>) -> Result<u64> {
            let mut n_resealed = 0;
            $(n_resealed += <$kind as Kind>::reseal(tx, reseal)?;)+
            Ok(n_resealed)
        }

        /// Each kind's name in the dump and its variant's name, in dump order.
        #[cfg(test)]
        pub const KINDS: &[(&str, &str)] = &[$(($name, stringify!($variant)),)+];
    };
}
