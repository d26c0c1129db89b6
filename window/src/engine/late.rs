//! Records for windows already closed (`--late`), and `--merge` input: partial rows of other
//! kds-window processes.

use super::*;

impl Engine {
    /// A record for a window already closed.
    pub(super) fn late(
        &mut self,
        line: &[u8],
        line_no: u64,
        ws: i64,
        text: &[u8],
    ) -> anyhow::Result<()> {
        self.stats.late += 1;
        match &self.o.late {
            LatePolicy::Drop => Ok(()),
            LatePolicy::Side(_) => {
                if let Some(side) = &mut self.side {
                    side.write_line(line)?;
                }
                Ok(())
            }
            LatePolicy::Emit => {
                // Partial rows are additive: the correction is the late record alone. Final
                // rows are upserts: the window's updated full row for that group.
                let mut win = if self.o.partial {
                    Win::new(ws, &self.q)
                } else {
                    self.closed
                        .remove(&ws)
                        .unwrap_or_else(|| Win::new(ws, &self.q))
                };
                let vals = &self.ex.vals;
                let accs = win.accs(&self.key, &self.q.aggregates);
                for (acc, slot) in accs.iter_mut().zip(&self.agg_slots) {
                    if acc
                        .add(slot.map(|s| vals[s]), text, &mut self.dkey, self.o.strict)
                        .is_err()
                    {
                        return Err(anyhow!(
                            "line {line_no}: integer sum overflows i64 (--strict)"
                        ));
                    }
                }
                let accs = win.accs(&self.key, &self.q.aggregates).clone();
                let marker = Marker {
                    late: true,
                    not_final: false,
                };
                self.rows
                    .write(&mut self.out, ws, self.q.size_ms, &self.key, &accs, marker)?;
                self.stats.rows = self.rows.rows;
                if !self.o.partial {
                    self.closed.insert(ws, win);
                }
                Ok(())
            }
        }
    }

    /// A partial row from another process (`--merge`), its window start as its time.
    pub(super) fn push_partial(&mut self, line: &[u8], line_no: u64) -> anyhow::Result<()> {
        let win = match self.parse_partial(line) {
            Ok(w) => w,
            Err(msg) => return self.bad(line_no, &msg),
        };
        let ws = win.start;
        let size = self.q.size_ms;
        if !self.batch && ws.saturating_add(size) <= self.closed_upto {
            self.stats.late += 1;
            if let LatePolicy::Side(_) = self.o.late {
                if let Some(side) = &mut self.side {
                    side.write_line(line)?;
                }
            }
            return Ok(());
        }
        let idx = window_index(&mut self.windows, &mut self.hint, ws, &self.q);
        if self.windows[idx]
            .merge(&win, &self.q.aggregates, self.o.strict)
            .is_err()
        {
            return Err(anyhow!(
                "line {line_no}: integer sum overflows i64 (--strict)"
            ));
        }
        self.stats.records += 1;
        if ws > self.max_time && !self.batch {
            self.max_time = ws;
            let wm = ws
                .saturating_sub(self.o.allowed_lateness_ms)
                .max(MIN_TIME_MS);
            if wm >= self.closed_upto.saturating_add(size) {
                self.close_until(wm)?;
            }
        }
        Ok(())
    }

    pub(super) fn parse_partial(&self, line: &[u8]) -> Result<Win, String> {
        let v: Value = serde_json::from_slice(line).map_err(|e| format!("not valid JSON: {e}"))?;
        if v.get("kds_window_partial").is_none() {
            return Err("not a partial row (make it with kds-window --partial)".into());
        }
        let time = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .and_then(|s| kds_common::time::parse_timestamp(s.as_bytes()))
                .filter(|t| (MIN_TIME_MS..=MAX_TIME_MS).contains(t))
                .ok_or_else(|| format!("partial row without a valid {k}"))
        };
        let start = time("window_start")?;
        let end = time("window_end")?;
        if end - start != self.q.size_ms {
            return Err(format!(
                "partial row is for a window of {} ms, this query's --size is {} ms",
                end - start,
                self.q.size_ms
            ));
        }
        let key = v
            .get("key")
            .and_then(Value::as_array)
            .ok_or("partial row without a key array")?;
        if key.len() != self.q.group_by.len() {
            return Err(format!(
                "partial row has {} group-by values, this query has {}",
                key.len(),
                self.q.group_by.len()
            ));
        }
        let mut key_bytes = Vec::new();
        for (j, k) in key.iter().enumerate() {
            if j > 0 {
                key_bytes.push(0);
            }
            let _ = serde_json::to_writer(&mut key_bytes, k);
        }
        let states = v
            .get("aggs")
            .and_then(Value::as_object)
            .ok_or("partial row without aggs")?;
        let mut accs = Vec::with_capacity(self.q.aggregates.len());
        for a in &self.q.aggregates {
            let s = states
                .get(&a.name)
                .ok_or_else(|| format!("partial row has no state for aggregate {}", a.name))?;
            accs.push(Acc::from_partial(a, s)?);
        }
        let mut win = Win::new(start, &self.q);
        win.not_final = v.get("final") == Some(&Value::Bool(false));
        match &mut win.groups {
            Groups::Single(a) => *a = accs,
            Groups::Map(m) => {
                m.insert(key_bytes.into_boxed_slice(), accs);
            }
        }
        Ok(win)
    }
}
