//! Durations and RFC 3339 timestamps, parsed and formatted by hand: the
//! runtime's decoder reads input times with them, the compiler time
//! literals (`@2026-01-01T00:00:00Z`).

// ---- durations ---------------------------------------------------------------------

/// A duration as rules write it: a whole number directly followed by a
/// unit (`ms`, `s`, `m`, `h`), in milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    if num.is_empty() {
        return Err("a duration is a whole number followed by a unit: ms, s, m or h".into());
    }
    let scale: i64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => return Err("the unit is missing: ms, s, m or h".into()),
        _ => return Err(format!("unknown unit `{unit}`: use ms, s, m or h")),
    };
    num.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| "the duration is too long".to_string())
}

// ---- RFC 3339 ----------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let d = i64::from(d);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (the inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Reads exactly `n` ASCII digits at `*at`.
fn digits(b: &[u8], at: &mut usize, n: usize, what: &str) -> Result<u32, String> {
    let mut v = 0u32;
    for k in 0..n {
        match b.get(*at + k) {
            Some(c) if c.is_ascii_digit() => v = v * 10 + u32::from(c - b'0'),
            _ => return Err(format!("expected {n} digits for the {what}")),
        }
    }
    *at += n;
    Ok(v)
}

fn expect(b: &[u8], at: &mut usize, c: u8, after: &str) -> Result<(), String> {
    if b.get(*at) == Some(&c) {
        *at += 1;
        Ok(())
    } else {
        Err(format!("expected `{}` after the {after}", char::from(c)))
    }
}

/// An RFC 3339 date-time (`2026-11-22T10:00:00Z`,
/// `2026-11-22T10:00:00.250+01:00`) in milliseconds since the Unix epoch.
/// `T` may also be `t` or a space, `Z` may be `z`; fractions keep
/// millisecond precision (further digits are cut); `-00:00` is UTC. Leap
/// seconds (`:60`) are refused: they have no epoch millisecond.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let mut at = 0;
    let year = digits(b, &mut at, 4, "year")?;
    expect(b, &mut at, b'-', "year")?;
    let month = digits(b, &mut at, 2, "month")?;
    expect(b, &mut at, b'-', "month")?;
    let day = digits(b, &mut at, 2, "day")?;
    match b.get(at) {
        Some(b'T' | b't' | b' ') => at += 1,
        None => return Err("the time of day is missing (write `T10:00:00Z`)".into()),
        _ => return Err("expected `T` between the date and the time".into()),
    }
    let hour = digits(b, &mut at, 2, "hour")?;
    expect(b, &mut at, b':', "hour")?;
    let minute = digits(b, &mut at, 2, "minute")?;
    expect(b, &mut at, b':', "minute")?;
    let second = digits(b, &mut at, 2, "second")?;
    let mut millis = 0u32;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 3 {
                millis = millis * 10 + u32::from(b.get(at).map_or(0, |c| c - b'0'));
            }
            at += 1;
        }
        let n = at - start;
        if n == 0 {
            return Err("expected digits after the decimal point".into());
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_min: i64 = match b.get(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            at += 1;
            let oh = digits(b, &mut at, 2, "offset hours")?;
            expect(b, &mut at, b':', "offset hours")?;
            let om = digits(b, &mut at, 2, "offset minutes")?;
            if oh > 23 {
                return Err(format!("offset hour {oh} is out of range (00 to 23)"));
            }
            if om > 59 {
                return Err(format!("offset minute {om} is out of range (00 to 59)"));
            }
            let m = i64::from(oh * 60 + om);
            if sign == b'-' {
                -m
            } else {
                m
            }
        }
        None => return Err("the UTC offset is missing (write `Z` or `+01:00`)".into()),
        _ => return Err("expected `Z` or an offset like `+01:00`".into()),
    };
    if at != b.len() {
        return Err("unexpected text after the offset".into());
    }
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} is out of range (01 to 12)"));
    }
    let y = i64::from(year);
    let dim = days_in_month(y, month);
    if day < 1 || day > dim {
        return Err(if month == 2 && day == 29 {
            format!("{year:04} is not a leap year: February has 28 days")
        } else {
            format!("day {day} is out of range for month {month:02} (01 to {dim})")
        });
    }
    if hour > 23 {
        return Err(format!("hour {hour} is out of range (00 to 23)"));
    }
    if minute > 59 {
        return Err(format!("minute {minute} is out of range (00 to 59)"));
    }
    if second == 60 {
        return Err("leap seconds (`:60`) are not supported".into());
    }
    if second > 59 {
        return Err(format!("second {second} is out of range (00 to 59)"));
    }
    let days = days_from_civil(y, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_min * 60;
    Ok(secs * 1000 + i64::from(millis))
}

/// Epoch milliseconds as RFC 3339 in UTC, with milliseconds when they are
/// not zero: `2026-11-22T09:00:00.250Z`.
pub fn format_rfc3339(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (mi, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    if milli == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
    }
}
