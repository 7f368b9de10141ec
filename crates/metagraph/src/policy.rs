//! Blacklist policy for the axon: who may call, judged on the *verified* caller hotkey.

use std::cmp::Ordering;

use crate::state::MetagraphSnapshot;

/// Why a caller is refused; its `Display` is the reason an axon returns.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The hotkey has no uid in the metagraph.
    #[error("hotkey is not registered")]
    NotRegistered,
    /// The hotkey's stake is below the minimum.
    #[error("stake {stake} is below the minimum of {min}")]
    InsufficientStake {
        /// The caller's stake.
        stake: f32,
        /// The policy's minimum.
        min: f32,
    },
    /// The hotkey holds no validator permit.
    #[error("hotkey holds no validator permit")]
    NoValidatorPermit,
}

/// Which callers an axon serves. [`Policy::new`] documents the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Refuse hotkeys without a uid.
    pub require_registered: bool,
    /// Refuse hotkeys with less stake than this (an unregistered hotkey has none).
    pub min_stake: f32,
    /// Refuse hotkeys without a validator permit.
    pub require_validator_permit: bool,
}

impl Policy {
    /// Registered callers only; no minimum stake; no permit needed.
    pub fn new() -> Self {
        Self {
            require_registered: true,
            min_stake: 0.0,
            require_validator_permit: false,
        }
    }

    /// Anyone (for local experiments).
    pub fn open() -> Self {
        Self {
            require_registered: false,
            min_stake: 0.0,
            require_validator_permit: false,
        }
    }

    /// Sets `require_registered`.
    pub fn with_registered(mut self, required: bool) -> Self {
        self.require_registered = required;
        self
    }

    /// Sets `min_stake`.
    pub fn with_min_stake(mut self, min_stake: f32) -> Self {
        self.min_stake = min_stake;
        self
    }

    /// Sets `require_validator_permit`.
    pub fn with_validator_permit(mut self, required: bool) -> Self {
        self.require_validator_permit = required;
        self
    }

    /// Checks `hotkey` against `snapshot`; on success returns its uid (if registered).
    ///
    /// # Notes
    ///
    /// Fails closed: a NaN minimum stake refuses everyone, and a stake or permit
    /// requirement implies registration.
    pub fn check(
        &self,
        snapshot: &MetagraphSnapshot,
        hotkey: &str,
    ) -> Result<Option<u32>, Rejection> {
        let needs_uid = self.require_registered
            || self.require_validator_permit
            || self.min_stake.is_nan()
            || self.min_stake > 0.0;
        let Some(uid) = snapshot.uid(hotkey) else {
            return if needs_uid {
                Err(Rejection::NotRegistered)
            } else {
                Ok(None)
            };
        };
        let stake = snapshot.stake_of(uid);
        // A NaN on either side compares as None and refuses.
        if stake
            .partial_cmp(&self.min_stake)
            .is_none_or(Ordering::is_lt)
        {
            return Err(Rejection::InsufficientStake {
                stake,
                min: self.min_stake,
            });
        }
        if self.require_validator_permit && !snapshot.has_validator_permit(uid) {
            return Err(Rejection::NoValidatorPermit);
        }
        Ok(Some(uid))
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AxonInfo, Parts};
    use candle_core::{Device, Tensor};

    fn snapshot() -> MetagraphSnapshot {
        let hotkeys = vec!["miner".to_owned(), "validator".to_owned()];
        let axons = hotkeys
            .iter()
            .map(|h| AxonInfo {
                ip: [0, 0, 0, 0].into(),
                port: 1,
                hotkey: h.clone(),
                coldkey: String::new(),
                version: 1,
                protocols: Vec::new(),
            })
            .collect();
        let mut parts = Parts::zeros(1, hotkeys, vec![String::new(); 2], axons).expect("zeros");
        parts.stake = Tensor::new(&[5.0f32, 1000.0], &Device::Cpu).expect("tensor");
        parts.validator_permit = Tensor::new(&[0u8, 1], &Device::Cpu).expect("tensor");
        MetagraphSnapshot::new(parts).expect("valid")
    }

    #[test]
    fn each_rule_rejects_with_its_reason() {
        let s = snapshot();
        assert_eq!(
            Policy::new().check(&s, "stranger"),
            Err(Rejection::NotRegistered)
        );
        assert_eq!(Policy::new().check(&s, "miner"), Ok(Some(0)));
        assert_eq!(Policy::open().check(&s, "stranger"), Ok(None));
        let staked = Policy::new().with_min_stake(10.0);
        assert_eq!(
            staked.check(&s, "miner"),
            Err(Rejection::InsufficientStake {
                stake: 5.0,
                min: 10.0
            })
        );
        assert_eq!(staked.check(&s, "validator"), Ok(Some(1)));
        assert_eq!(
            Policy::open().with_min_stake(1.0).check(&s, "stranger"),
            Err(Rejection::NotRegistered)
        );
        let permit = Policy::new().with_validator_permit(true);
        assert_eq!(permit.check(&s, "miner"), Err(Rejection::NoValidatorPermit));
        assert_eq!(permit.check(&s, "validator"), Ok(Some(1)));
        assert!(
            Policy::new()
                .with_min_stake(f32::NAN)
                .check(&s, "validator")
                .is_err()
        );
        assert_eq!(
            Rejection::NoValidatorPermit.to_string(),
            "hotkey holds no validator permit"
        );
    }
}
