//! Logs: batched inserts and filtered reads.

use crate::db::{bind_all, on_pool, opt_text};
use crate::writer::{values_rows, Statement};

/// Rows per multi-row INSERT (8 values each, well under SQLite's 32,766 bind limit).
const ROWS_PER_STATEMENT: usize = 500;
use crate::{Result, Store};
use uuid::Uuid;
use weir_core::filters::{LogFilterBody, Predicate, Sort};
use weir_core::schemas::{Log, LogCreate};
use weir_core::Timestamp;

impl Store {
    /// Stores a batch of log lines in one transaction.
    pub async fn create_logs(&self, logs: Vec<LogCreate>) -> Result<usize> {
        let now = Timestamp::now().to_canonical();
        let count = logs.len();
        // One multi-row INSERT per chunk: a batch of log lines costs a statement, not one per line.
        let mut statements = Vec::new();
        for chunk in logs.chunks(ROWS_PER_STATEMENT) {
            let mut args = Vec::with_capacity(chunk.len() * 8);
            for log in chunk {
                args.extend([
                    Some(Uuid::now_v7().to_string()),
                    opt_text(log.flow_run_id),
                    opt_text(log.task_run_id),
                    Some(log.name.clone()),
                    Some(log.level.to_string()),
                    Some(log.message.clone()),
                    Some(log.timestamp.to_canonical()),
                    Some(now.clone()),
                ]);
            }
            let rows = values_rows(
                chunk.len(),
                &["?", "?", "?", "?", "CAST(? AS BIGINT)", "?", "?", "?"],
            );
            statements.push(Statement {
                sql: format!(
                    "INSERT INTO log (id, flow_run_id, task_run_id, name, level, message, timestamp, created) \
                     VALUES {rows}"
                )
                .into(),
                args,
            });
        }
        if !statements.is_empty() {
            self.writer.write(statements).await?;
        }
        Ok(count)
    }

    /// Logs matching a filter body, oldest first unless sorted otherwise.
    pub async fn filter_logs(&self, body: &LogFilterBody) -> Result<Vec<Log>> {
        let predicate = body
            .logs
            .as_ref()
            .map(|f| f.predicate())
            .unwrap_or(Predicate::True);
        let mut sql = self.db.builder();
        sql.push("SELECT id, flow_run_id, task_run_id, name, level, message, timestamp, created FROM log WHERE ");
        sql.predicate(&predicate);
        sql.push(" ORDER BY ")
            .push(body.sort.unwrap_or(Sort::TimestampAsc).order_by());
        sql.page(body.limit, body.offset);
        type Row = (
            String,
            Option<String>,
            Option<String>,
            String,
            i64,
            String,
            String,
            String,
        );
        let rows: Vec<Row> = on_pool!(read &self.db, pool =>
            bind_all!(sqlx::query_as(&sql.sql), sql.args).fetch_all(pool).await)?;
        rows.into_iter()
            .map(
                |(id, flow_run_id, task_run_id, name, level, message, timestamp, created)| {
                    let created: Timestamp = created.parse().map_err(corrupt)?;
                    Ok(Log {
                        id: id.parse().map_err(corrupt)?,
                        created,
                        updated: created,
                        name,
                        level,
                        message,
                        timestamp: timestamp.parse().map_err(corrupt)?,
                        flow_run_id: flow_run_id
                            .map(|s| s.parse())
                            .transpose()
                            .map_err(corrupt)?,
                        task_run_id: task_run_id
                            .map(|s| s.parse())
                            .transpose()
                            .map_err(corrupt)?,
                    })
                },
            )
            .collect()
    }
}

fn corrupt(err: impl std::fmt::Display) -> crate::Error {
    crate::Error::Corrupt(serde::de::Error::custom(err))
}
