//! `expiresAt` and `registrationExpiresAt`: written as
//! `YYYY-MM-DDTHH:MM:SSZ`, the one form every AWS reader accepts; read as any
//! RFC 3339 time with a zone (`Z` or an offset, fractional seconds allowed),
//! as §4.4 of `aws-cli-compat.md` asks. A time without a zone is refused: it
//! crashes botocore's arithmetic, and guessing UTC could be hours off.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Renders `time` in UTC, truncated to whole seconds. Times before 1970 or
/// after 9999 are clamped into that range (no token lives that long).
pub(crate) fn format(time: SystemTime) -> String {
    let seconds = match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    let datetime = OffsetDateTime::from_unix_timestamp(seconds.min(MAX_SECONDS))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    datetime
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Seconds from the epoch to 9999-12-31T23:59:59Z.
const MAX_SECONDS: i64 = 253_402_300_799;

/// Parses an RFC 3339 time with a zone; fractional seconds are kept. A
/// `UTC` suffix counts as `Z`: botocore's `JSONFileCache`, used with its
/// default serializer, writes `%Y-%m-%dT%H:%M:%S%Z`, and botocore reads it back.
pub(crate) fn parse(text: &str) -> Result<SystemTime, String> {
    let trimmed = text.trim();
    let normalized = match trimmed.strip_suffix("UTC") {
        Some(bare) => format!("{}Z", bare.trim_end()),
        None => trimmed.to_owned(),
    };
    let datetime = OffsetDateTime::parse(&normalized, &Rfc3339).map_err(|error| {
        format!(
            "{text:?} is not an RFC 3339 time with a zone, such as 2024-06-01T13:00:00Z ({error})"
        )
    })?;
    let nanos = datetime.unix_timestamp_nanos();
    if nanos < 0 {
        return Err(format!("{text:?} is before 1970"));
    }
    // `9999-12-31T23:59:59-01:00` is in the year 10000 in UTC, which
    // `format` cannot write back: such a file would change on every rewrite.
    if datetime.unix_timestamp() > MAX_SECONDS {
        return Err(format!("{text:?} is after 9999"));
    }
    let nanos = u128::try_from(nanos).unwrap_or(0);
    let seconds = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    UNIX_EPOCH
        .checked_add(Duration::new(seconds, subsec))
        .ok_or_else(|| format!("{text:?} is too far in the future"))
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

    #[test]
    fn round_trips_whole_seconds() {
        for seconds in [0, 1, 1_717_246_800, 4_102_444_800] {
            assert_eq!(parse(&format(at(seconds))).unwrap(), at(seconds));
        }
    }
}
