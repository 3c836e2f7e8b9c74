//! `FESTIVAL_POWER`: a power reading given by hand (`battery:15`, `battery:55,charging`,
//! `battery:80,saver`, `mains`), which stands in for the power source whatever the machine
//! has, for the CLI, tests and demos. Parsed strictly: anything else is an error that says
//! what was expected.

use super::state::{PowerState, Supply};

/// The environment variable that overrides the power source.
pub const ENV: &str = "FESTIVAL_POWER";

/// Why a power override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OverrideError {
    /// Neither `mains` nor `battery:N`.
    #[error("{value:?}: expected `mains` or `battery:PERCENT[,charging][,saver]`")]
    Supply {
        /// What was given.
        value: String,
    },
    /// The level is not a whole number from 0 to 100.
    #[error("{value:?}: the battery level must be a whole number from 0 to 100")]
    Level {
        /// What was given.
        value: String,
    },
    /// A flag other than `charging` or `saver`, or one given twice.
    #[error("{value:?}: unknown or repeated flag {flag:?} (allowed once each: charging, saver)")]
    Flag {
        /// What was given.
        value: String,
        /// The flag.
        flag: String,
    },
}

/// Parses an override such as `battery:55,charging`.
pub fn parse(value: &str) -> Result<PowerState, OverrideError> {
    if value == "mains" {
        return Ok(PowerState::MAINS);
    }
    let supply_error = || OverrideError::Supply {
        value: value.to_owned(),
    };
    let rest = value.strip_prefix("battery:").ok_or_else(supply_error)?;
    let mut parts = rest.split(',');
    let level = parts.next().unwrap_or_default();
    let level_error = || OverrideError::Level {
        value: value.to_owned(),
    };
    if level.is_empty() || !level.bytes().all(|b| b.is_ascii_digit()) {
        return Err(level_error());
    }
    let percent: u8 = level.parse().map_err(|_| level_error())?;
    if percent > 100 {
        return Err(level_error());
    }
    let mut state = PowerState::battery(percent);
    let (mut charging, mut saver) = (false, false);
    for flag in parts {
        let seen = match flag {
            "charging" => Some(&mut charging),
            "saver" => Some(&mut saver),
            _ => None,
        };
        match seen {
            Some(seen) if !*seen => *seen = true,
            _ => {
                return Err(OverrideError::Flag {
                    value: value.to_owned(),
                    flag: flag.to_owned(),
                });
            }
        }
    }
    state.supply = Supply::Battery { percent, charging };
    state.saver = saver;
    Ok(state)
}

/// The override in `FESTIVAL_POWER`, if it is set.
pub fn from_env() -> Result<Option<PowerState>, OverrideError> {
    match std::env::var(ENV) {
        Ok(value) => parse(&value).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(raw)) => Err(OverrideError::Supply {
            value: raw.to_string_lossy().into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_forms_parse() {
        assert_eq!(parse("mains"), Ok(PowerState::MAINS));
        assert_eq!(parse("battery:15"), Ok(PowerState::battery(15)));
        assert_eq!(
            parse("battery:55,charging"),
            Ok(PowerState::battery(55).charging())
        );
        assert_eq!(
            parse("battery:80,saver"),
            Ok(PowerState::battery(80).saver())
        );
        assert_eq!(
            parse("battery:0,saver,charging"),
            Ok(PowerState::battery(0).charging().saver())
        );
        assert_eq!(parse("battery:100"), Ok(PowerState::battery(100)));
    }

    #[test]
    fn anything_else_is_refused_with_what_was_expected() {
        for bad in [
            "",
            "Mains",
            " mains",
            "mains,saver",
            "battery",
            "wifi:3",
            "battery 15",
        ] {
            assert!(
                matches!(parse(bad), Err(OverrideError::Supply { .. })),
                "{bad:?}"
            );
        }
        for bad in [
            "battery:",
            "battery:101",
            "battery:256",
            "battery:-1",
            "battery:+5",
            "battery:1.5",
            "battery: 5",
            "battery:99999999999999999999",
            "battery:,charging",
        ] {
            assert!(
                matches!(parse(bad), Err(OverrideError::Level { .. })),
                "{bad:?}"
            );
        }
        for bad in [
            "battery:50,",
            "battery:50,charging,charging",
            "battery:50,Saver",
            "battery:50,turbo",
            "battery:50, saver",
        ] {
            assert!(
                matches!(parse(bad), Err(OverrideError::Flag { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse("battery:50,turbo").map_err(|e| e.to_string()),
            Err(
                "\"battery:50,turbo\": unknown or repeated flag \"turbo\" (allowed once each: \
                 charging, saver)"
                    .to_owned()
            )
        );
    }
}
