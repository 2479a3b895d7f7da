//! `expiresAt` and `registrationExpiresAt`: written as
//! `YYYY-MM-DDTHH:MM:SSZ`, the one form every AWS reader accepts; read as any
//! RFC 3339 time with a zone (`Z` or an offset, fractional seconds allowed),
//! as §4.4 of `aws-cli-compat.md` asks. A time without a zone is refused: it
//! crashes botocore's arithmetic, and guessing UTC could be hours off.

//!
//! The calendar arithmetic is written here rather than taken from the
//! `time` crate: these two narrow forms are all the files need, and `time`
//! brought six crates and a proc macro into every program that embeds us.
//! The tests check both functions against `time` over random inputs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: i64 = 86_400;

/// Renders `time` in UTC, truncated to whole seconds. Times before 1970 or
/// after 9999 are clamped into that range (no token lives that long).
pub(crate) fn format(time: SystemTime) -> String {
    let seconds = match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
    .min(MAX_SECONDS);
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Seconds from the epoch to 9999-12-31T23:59:59Z.
const MAX_SECONDS: i64 = 253_402_300_799;

/// Parses an RFC 3339 time with a zone: `YYYY-MM-DDTHH:MM:SS`, an optional
/// fraction of 1 to 9 digits (kept), then `Z` or `±HH:MM`. A `UTC` suffix
/// counts as `Z`: botocore's `JSONFileCache`, used with its default
/// serializer, writes `%Y-%m-%dT%H:%M:%S%Z`, and botocore reads it back.
pub(crate) fn parse(text: &str) -> Result<SystemTime, String> {
    let trimmed = text.trim();
    let (seconds, nanos) = match trimmed.strip_suffix("UTC") {
        Some(bare) => fields(&format!("{}Z", bare.trim_end())),
        None => fields(trimmed),
    }
    .ok_or_else(|| {
        format!("{text:?} is not an RFC 3339 time with a zone, such as 2024-06-01T13:00:00Z")
    })?;
    if seconds < 0 {
        return Err(format!("{text:?} is before 1970"));
    }
    // `9999-12-31T23:59:59-01:00` is in the year 10000 in UTC, which
    // `format` cannot write back: such a file would change on every rewrite.
    if seconds > MAX_SECONDS {
        return Err(format!("{text:?} is after 9999"));
    }
    let seconds = u64::try_from(seconds).unwrap_or(0);
    UNIX_EPOCH
        .checked_add(Duration::new(seconds, nanos))
        .ok_or_else(|| format!("{text:?} is too far in the future"))
}

/// Seconds since the epoch (negative before it) and nanoseconds of an RFC
/// 3339 time, or `None` if `text` is not one.
fn fields(text: &str) -> Option<(i64, u32)> {
    let bytes = text.as_bytes();
    let number = |from: usize, len: usize| -> Option<i64> {
        let digits = bytes.get(from..from.checked_add(len)?)?;
        digits.iter().try_fold(0i64, |value, &byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + i64::from(byte - b'0'))
        })
    };
    let at = |index: usize, expected: u8| bytes.get(index) == Some(&expected);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = bytes.get(19..)?;
    let mut nanos = 0u32;
    if let Some((b'.', after)) = rest.split_first() {
        let digits = after
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        for (place, byte) in after.iter().take(digits).enumerate() {
            nanos += u32::from(byte - b'0') * 10u32.pow(8 - u32::try_from(place).ok()?);
        }
        rest = after.get(digits..)?;
    }
    let offset = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (hours, minutes) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset;
    Some((seconds, nanos))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn writes_whole_seconds_with_z() {
        assert_eq!(format(at(1_717_246_800)), "2024-06-01T13:00:00Z");
        assert_eq!(
            format(at(1_717_246_800) + Duration::from_millis(999)),
            "2024-06-01T13:00:00Z"
        );
        assert_eq!(
            format(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            format(at(u64::from(u32::MAX) * 100)),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn reads_every_form_aws_writers_use() {
        let expected = at(1_717_246_800);
        assert_eq!(parse("2024-06-01T13:00:00Z").unwrap(), expected);
        assert_eq!(parse("2024-06-01T13:00:00+00:00").unwrap(), expected);
        assert_eq!(parse("2024-06-01T15:00:00+02:00").unwrap(), expected);
        assert_eq!(parse("2024-06-01T13:00:00.000Z").unwrap(), expected);
        assert_eq!(
            parse("2024-06-01T13:00:00.250Z").unwrap(),
            expected + Duration::from_millis(250)
        );
        assert_eq!(parse(" 2024-06-01T13:00:00Z\n").unwrap(), expected);
        assert_eq!(parse("2024-06-01T13:00:00UTC").unwrap(), expected);
    }

    #[test]
    fn refuses_times_without_a_zone_and_junk() {
        for text in [
            "2024-06-01T13:00:00",
            "2024-06-01",
            "tomorrow",
            "",
            "2024-13-01T00:00:00Z",
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains("RFC 3339"), "{text}: {error}");
        }
        assert!(parse("1969-12-31T23:59:59Z").is_err());
        assert!(parse("9999-12-31T23:59:59-01:00").is_err());
        assert!(parse("9999-12-31T23:59:59.999Z").is_ok());
    }

    proptest::proptest! {
        /// The `time` crate (a dev-dependency only) agrees on every time
        /// from 1970 to 9999, written in every form `parse` accepts.
        #[test]
        fn agrees_with_the_time_crate(
            seconds in 0i64..=MAX_SECONDS,
            nanos in 0u32..1_000_000_000,
            digits in 0usize..=9,
            offset_minutes in -(23 * 60 + 59)..=(23i32 * 60 + 59),
        ) {
            use time::format_description::well_known::Rfc3339;
            let reference = time::OffsetDateTime::from_unix_timestamp(seconds).unwrap();
            let ours = format(at(u64::try_from(seconds).unwrap()));
            let theirs = reference
                .format(&time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
                .unwrap();
            proptest::prop_assert_eq!(&ours, &theirs);

            let offset = time::UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap();
            // Near 9999 an eastern offset runs past what `time` can hold.
            let Some(local) = reference.checked_to_offset(offset) else {
                return Ok(());
            };
            let fraction = match digits {
                0 => String::new(),
                n => format!(".{:09}", nanos)[..=n].to_owned(),
            };
            let zone = if offset_minutes == 0 {
                "Z".to_owned()
            } else {
                let sign = if offset_minutes < 0 { '-' } else { '+' };
                format!("{sign}{:02}:{:02}", offset_minutes.abs() / 60, offset_minutes.abs() % 60)
            };
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{zone}",
                local.year(), u8::from(local.month()), local.day(),
                local.hour(), local.minute(), local.second()
            );
            let expected = time::OffsetDateTime::parse(&text, &Rfc3339).map(|t| t.unix_timestamp_nanos());
            let parsed = fields(&text).map(|(s, n)| i128::from(s) * 1_000_000_000 + i128::from(n));
            proptest::prop_assert_eq!(parsed, expected.ok(), "{}", text);
        }

        /// Whatever `parse` accepts, `time` accepts as the same instant.
        #[test]
        fn accepts_nothing_the_time_crate_refuses(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})") {
            use time::format_description::well_known::Rfc3339;
            if let Some((seconds, nanos)) = fields(&text) {
                let theirs = time::OffsetDateTime::parse(&text, &Rfc3339).map(|t| t.unix_timestamp_nanos());
                proptest::prop_assert_eq!(Ok(i128::from(seconds) * 1_000_000_000 + i128::from(nanos)), theirs.map_err(|_| ()), "{}", text);
            }
        }
    }

    #[test]
    fn round_trips_whole_seconds() {
        for seconds in [0, 1, 1_717_246_800, 4_102_444_800] {
            assert_eq!(parse(&format(at(seconds))).unwrap(), at(seconds));
        }
    }
}
