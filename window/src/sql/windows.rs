//! GROUP BY with several time expressions: AWS's two-window pattern ("Timestamps and the ROWTIME
//! Column", KDA SQL Developer Guide) groups by `STEP(ROWTIME BY ...)`, which decides when rows
//! are emitted, and by `STEP("APPROXIMATE_ARRIVAL_TIME" BY ...)` (or an event-time column), the
//! logical time that becomes a group key.

use super::{Ident, Pos, SelectItem, SqlError, TimeBasis, WindowSpec};

/// The name of the Kinesis record's arrival time column in KDA's source stream.
pub const ARRIVAL_COLUMN: &str = "APPROXIMATE_ARRIVAL_TIME";

/// Does this reference name KDA's `APPROXIMATE_ARRIVAL_TIME` column (unquoted in any case, or
/// quoted in upper case)?
pub fn is_arrival(id: &Ident) -> bool {
    id.kda_name() == ARRIVAL_COLUMN
}

/// Splits GROUP BY's time expressions into the window and the further time groups: the window
/// is the one over ROWTIME, else the first. `None` when there is none.
pub fn split_windows(
    mut windows: Vec<(WindowSpec, Pos)>,
) -> Result<Option<(WindowSpec, Vec<WindowSpec>)>, SqlError> {
    let mut rowtime = windows
        .iter()
        .enumerate()
        .filter(|(_, (w, _))| w.time == TimeBasis::Rowtime);
    let main = rowtime.next().map(|(i, _)| i);
    if let Some((_, (_, pos))) = rowtime.next() {
        return Err(SqlError::new(
            *pos,
            "a second window over ROWTIME in GROUP BY: keep one; further STEP/FLOOR expressions \
             must be over APPROXIMATE_ARRIVAL_TIME or a TIMESTAMP column",
        ));
    }
    if windows.is_empty() {
        return Ok(None);
    }
    let (window, _) = windows.remove(main.unwrap_or(0));
    for (i, (w, pos)) in windows.iter().enumerate() {
        if windows[..i].iter().any(|(x, _)| x == w) || *w == window {
            return Err(SqlError::new(
                *pos,
                "this time expression is twice in GROUP BY",
            ));
        }
    }
    Ok(Some((
        window,
        windows.into_iter().map(|(w, _)| w).collect(),
    )))
}

/// What a STEP/FLOOR expression of the select list stands for: the window start, or the value
/// of one of the time groups. Anything else is an error at `pos`.
pub fn selected_window(
    w: &WindowSpec,
    pos: Pos,
    window: &WindowSpec,
    time_groups: &[WindowSpec],
) -> Result<SelectItem, SqlError> {
    if w == window {
        return Ok(SelectItem::WindowStart);
    }
    match time_groups.iter().position(|g| g == w) {
        Some(i) => Ok(SelectItem::TimeGroup(i)),
        None => Err(SqlError::new(
            pos,
            "this window expression is not in GROUP BY: select one of GROUP BY's expressions",
        )),
    }
}
