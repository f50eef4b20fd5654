//! Password hashing off the async runtime, on a bounded pool: at most `permits` Argon2id
//! computations run at once (each ~19 MiB and tens of milliseconds of CPU), so a burst of
//! sign-ins queues here instead of starving the runtime threads that validate tokens.

use std::sync::Arc;

use tokio::sync::Semaphore;
use ward_core::password::{self, PasswordError};
use ward_core::Random;

#[derive(Clone)]
pub struct PasswordPool {
    permits: Arc<Semaphore>,
    random: Arc<dyn Random>,
    /// Verified against when the account does not exist, to equalize timing.
    dummy_hash: Arc<String>,
}

impl PasswordPool {
    pub fn new(permits: usize, random: Arc<dyn Random>) -> Self {
        let dummy_hash = Arc::new(password::dummy_hash(random.as_ref()));
        PasswordPool {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            random,
            dummy_hash,
        }
    }

    /// Half the cores (at least one): the other half stays free for the runtime.
    pub fn default_permits() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get() / 2)
            .unwrap_or(1)
            .max(1)
    }

    /// Verifies `password` against `phc`, or against a dummy hash when `phc` is `None`
    /// (returning false), so both cost the same.
    pub async fn verify(&self, password: String, phc: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let dummy = self.dummy_hash.clone();
        tokio::task::spawn_blocking(move || match phc {
            Some(h) => password::verify_password(&password, &h),
            None => {
                password::verify_password(&password, &dummy);
                false
            }
        })
        .await
        .unwrap_or(false)
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        let random = self.random.clone();
        tokio::task::spawn_blocking(move || password::hash_password(&password, random.as_ref()))
            .await
            .map_err(|e| PasswordError::Hash(e.to_string()))?
    }
}
