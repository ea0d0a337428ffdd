//! Group commit: writes that many requests make at once (new flow runs, state changes, log
//! batches) are queued to one writer task, which applies everything queued so far in a single
//! transaction. Under load this turns hundreds of transactions into a few, which is what lets
//! SQLite's single writer keep up; on PostgreSQL it saves round trips. An idle server still
//! commits each write immediately: nothing waits for a batch to fill.
//!
//! A queued write is a list of statements whose first is a *guard*: an `INSERT ... ON CONFLICT
//! DO NOTHING` or a compare-and-swap `UPDATE ... WHERE updated = $version`. When the guard changes
//! no row the rest is skipped and the caller learns the write did not apply.

use crate::db::{on_pool, Db};
use crate::{Error, Result};
use tokio::sync::{mpsc, oneshot};

/// Writes taken into one transaction at most.
const MAX_BATCH: usize = 256;

/// One SQL statement with its text (or NULL) arguments.
pub(crate) struct Statement {
    pub sql: std::borrow::Cow<'static, str>,
    pub args: Vec<Option<String>>,
}

/// A guarded group of statements and where to send whether it applied.
struct Write {
    statements: Vec<Statement>,
    reply: oneshot::Sender<Result<bool>>,
}

/// The queue to the writer task. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Write>,
}

impl Writer {
    /// Starts the writer task for `db` on the current runtime.
    pub(crate) fn spawn(db: Db) -> Writer {
        let (queue, receiver) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(db, receiver));
        Writer { queue }
    }

    /// Applies `statements` in the next batch; `true` when the guard (the first) changed a row.
    pub(crate) async fn write(&self, statements: Vec<Statement>) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::Unavailable(sqlx::Error::PoolClosed);
        self.queue
            .send(Write { statements, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(db: Db, mut receiver: mpsc::Receiver<Write>) {
    let mut batch: Vec<Write> = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let outcome = apply(&db, &batch).await;
        match outcome {
            Ok(applied) => {
                for (write, applied) in batch.drain(..).zip(applied) {
                    let _ = write.reply.send(Ok(applied));
                }
            }
            Err(err) => {
                let retryable = is_retryable(&err);
                let message = err.to_string();
                tracing::warn!(error = %message, writes = batch.len(), "batched write failed");
                for write in batch.drain(..) {
                    let failure = sqlx::Error::Protocol(message.clone());
                    let err = if retryable {
                        Error::Unavailable(failure)
                    } else {
                        Error::Database(failure)
                    };
                    let _ = write.reply.send(Err(err));
                }
            }
        }
    }
}

/// Whether the database failed in a way a retry may fix: busy or locked (SQLite 5, 6, 517), a
/// serialization failure or deadlock (PostgreSQL 40001, 40P01), or a lost connection.
pub(crate) fn is_retryable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            matches!(
                db.code().unwrap_or_default().as_ref(),
                "5" | "6" | "517" | "40001" | "40P01"
            )
        }
        _ => false,
    }
}

/// Runs every write of the batch in one transaction and reports which guards applied.
async fn apply(db: &Db, batch: &[Write]) -> std::result::Result<Vec<bool>, sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let mut applied = Vec::with_capacity(batch.len());
        for write in batch {
            let mut guard_held = true;
            for (index, statement) in write.statements.iter().enumerate() {
                let mut query = sqlx::query(&statement.sql);
                for arg in &statement.args {
                    query = query.bind(arg.as_deref());
                }
                let done = query.execute(&mut *tx).await?;
                if index == 0 && done.rows_affected() == 0 {
                    guard_held = false;
                    break;
                }
            }
            applied.push(guard_held);
        }
        tx.commit().await?;
        Ok(applied)
    })
}

/// Placeholders `($1, $2, ..), ($k, ..)` for `rows` rows, one value per entry of `columns`: each
/// entry is a template in which `?` stands for the placeholder (`"?"`, or `"CAST(? AS BIGINT)"`
/// where PostgreSQL needs the text argument typed).
pub(crate) fn values_rows(rows: usize, columns: &[&str]) -> String {
    let mut sql = String::with_capacity(rows * columns.len() * 6);
    let mut number = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (index, template) in columns.iter().enumerate() {
            if index > 0 {
                sql.push_str(", ");
            }
            number += 1;
            sql.push_str(&template.replace('?', &format!("${number}")));
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_of_placeholders_are_numbered_in_order() {
        assert_eq!(
            super::values_rows(2, &["?", "CAST(? AS BIGINT)"]),
            "($1, CAST($2 AS BIGINT)), ($3, CAST($4 AS BIGINT))"
        );
    }
}
