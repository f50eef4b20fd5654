//! Password hashing off the async runtime, on a bounded pool: at most `permits` Argon2id
//! computations run at once (each ~19 MiB and tens of milliseconds of CPU), so a burst of
//! sign-ins queues here instead of starving the runtime threads that validate tokens. Each
//! computation borrows one of at most `permits` kept Argon2 workspaces (decision 241).

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use ward_core::password::{self, PasswordError, Workspace};
use ward_core::Random;

#[derive(Clone)]
pub struct PasswordPool {
    permits: Arc<Semaphore>,
    random: Arc<dyn Random>,
    /// Verified against when the account does not exist, to equalize timing.
    dummy_hash: Arc<String>,
    /// The workspaces not in use: at most one per permit ever exists.
    workspaces: Arc<Mutex<Vec<Workspace>>>,
}

impl PasswordPool {
    pub fn new(permits: usize, random: Arc<dyn Random>) -> Self {
        let dummy_hash = Arc::new(password::dummy_hash(random.as_ref()));
        PasswordPool {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            random,
            dummy_hash,
            workspaces: Arc::default(),
        }
    }

    /// Runs `f` in a kept workspace (a new one when none is free: the first runs, or a poisoned
    /// lock), and keeps it again after.
    fn in_workspace<T>(
        workspaces: &Mutex<Vec<Workspace>>,
        f: impl FnOnce(&mut Workspace) -> T,
    ) -> T {
        let mut workspace = workspaces
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_default();
        let result = f(&mut workspace);
        if let Ok(mut free) = workspaces.lock() {
            free.push(workspace);
        }
        result
    }

    /// Bytes of Argon2 memory kept for the next runs.
    pub fn kept_bytes(&self) -> usize {
        self.workspaces
            .lock()
            .map(|free| free.iter().map(Workspace::held_bytes).sum())
            .unwrap_or(0)
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
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        let dummy = self.dummy_hash.clone();
        let workspaces = self.workspaces.clone();
        // The permit moves into the computation: a caller that goes away (a closed connection)
        // does not free it before Argon2 is done.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            Self::in_workspace(&workspaces, |ws| match phc {
                Some(h) => password::verify_password_in(ws, &password, &h),
                None => {
                    password::verify_password_in(ws, &password, &dummy);
                    false
                }
            })
        })
        .await
        .unwrap_or(false)
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        let random = self.random.clone();
        let workspaces = self.workspaces.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            Self::in_workspace(&workspaces, |ws| {
                password::hash_password_in(ws, &password, random.as_ref())
            })
        })
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_keep_one_workspace_per_permit() {
        let pool = PasswordPool::new(1, Arc::new(ward_core::random::OsRandom));
        assert_eq!(pool.kept_bytes(), 0);
        let phc = pool.hash("correct horse".into()).await.unwrap();
        assert!(pool.verify("correct horse".into(), Some(phc.clone())).await);
        assert!(!pool.verify("wrong horse".into(), Some(phc.clone())).await);
        assert!(!pool.verify("correct horse".into(), None).await);
        // A caller that goes away mid-run leaves the permit with the run, so no second
        // workspace is made meanwhile.
        let slow = pool.verify("correct horse".into(), Some(phc.clone()));
        let _ = tokio::time::timeout(std::time::Duration::from_millis(1), slow).await;
        assert!(pool.verify("correct horse".into(), Some(phc)).await);
        assert_eq!(pool.kept_bytes(), 19_456 * 1024);
    }
}
