//! Closing windows: emitting them in order (with `--emit-empty` gaps filled) and writing rows.

use super::*;

impl Engine {
    /// Emits every open window ending at or before `limit`, in order, then flushes.
    pub(super) fn close_until(&mut self, limit: i64) -> anyhow::Result<()> {
        let size = self.q.size_ms;
        let mut emitted = false;
        while self
            .windows
            .first()
            .is_some_and(|w| w.start.saturating_add(size) <= limit)
        {
            let win = self.windows.remove(0);
            self.emit_window(win, Marker::default())?;
            emitted = true;
        }
        self.hint = 0;
        if self.o.emit_empty {
            if let Some(e) = self.emitted_upto {
                let first_open = self.windows.first().map_or(i64::MAX, |w| w.start);
                let mut e = self.skip_long_gap(e, first_open.min(self.window_of(limit)));
                while e.saturating_add(size) <= limit && e < first_open {
                    let win = Win::new(e, &self.q);
                    self.emit_window(win, Marker::default())?;
                    emitted = true;
                    e += size;
                }
            }
        }
        let boundary = limit.div_euclid(size) * size;
        self.closed_upto = self.closed_upto.max(boundary);
        if emitted {
            self.out.flush()?;
        }
        Ok(())
    }

    /// `--emit-empty` is to fill the empty windows `from..to`: returns where to start, which is
    /// `to` (with a message on stderr) when that is over [`MAX_EMPTY_RUN`] windows.
    pub(super) fn skip_long_gap(&mut self, from: i64, to: i64) -> i64 {
        let n = (i128::from(to) - i128::from(from)) / i128::from(self.q.size_ms);
        if n <= i128::from(MAX_EMPTY_RUN) {
            return from;
        }
        let _ = writeln!(
            self.diag,
            "kds-window: --emit-empty: skipped {n} empty windows from {} to {} (more than {MAX_EMPTY_RUN} in a row)",
            kds_common::time::rfc3339_ms(from),
            kds_common::time::rfc3339_ms(to)
        );
        self.emitted_upto = Some(to);
        to
    }

    /// Writes one window's rows (filling empty windows before it with `--emit-empty`).
    pub(super) fn emit_window(&mut self, win: Win, marker: Marker) -> anyhow::Result<()> {
        let size = self.q.size_ms;
        if self.o.emit_empty {
            if let Some(e) = self.emitted_upto {
                let mut e = self.skip_long_gap(e, win.start);
                while e < win.start {
                    let empty = Win::new(e, &self.q);
                    self.write_window(&empty, marker)?;
                    e += size;
                }
            }
        }
        self.write_window(&win, marker)?;
        self.emitted_upto = Some(self.emitted_upto.unwrap_or(i64::MIN).max(win.start + size));
        if self.o.late == LatePolicy::Emit && !self.o.partial {
            self.closed.insert(win.start, win);
        }
        Ok(())
    }

    pub(super) fn write_window(&mut self, win: &Win, marker: Marker) -> anyhow::Result<()> {
        let marker = Marker {
            not_final: marker.not_final || win.not_final,
            ..marker
        };
        self.stats.windows += 1;
        let size = self.q.size_ms;
        match &win.groups {
            Groups::Map(m) if m.is_empty() => {
                // An empty window with group-by (`--emit-empty`): one row, NULL groups.
                let key = vec![b"null".to_vec(); self.q.group_by.len()].join(&0u8);
                let accs = new_accs(&self.q.aggregates);
                self.rows
                    .write(&mut self.out, win.start, size, &key, &accs, marker)?;
            }
            _ => {
                for (key, accs) in win.sorted() {
                    self.rows
                        .write(&mut self.out, win.start, size, key, accs, marker)?;
                }
            }
        }
        self.stats.rows = self.rows.rows;
        Ok(())
    }
}
