//! Events: stored as they arrive (for `/events/filter` and the replay of `/events/out`).

use crate::db::{bind_all, on_pool};
use crate::writer::{values_rows, Statement};

/// Rows per multi-row INSERT (5 values each).
const EVENTS_PER_STATEMENT: usize = 500;
use crate::{Result, Store};
use weir_core::events::{Event, EventFilter, EventOrder};
use weir_core::filters::SqlValue;
use weir_core::Timestamp;

/// How far back `/events/filter` looks when the filter names no `since` (Prefect's default: a day).
pub const EVENT_RETENTION_HINT: f64 = 86_400.0;

impl Store {
    /// Stores a batch of events; an event id seen before is ignored, so redelivery is harmless.
    /// Each chunk of the batch is one multi-row INSERT in the group-commit writer's next transaction.
    pub async fn insert_events(&self, events: &[Event]) -> Result<()> {
        let mut statements = Vec::new();
        for chunk in events.chunks(EVENTS_PER_STATEMENT) {
            let mut args = Vec::with_capacity(chunk.len() * 5);
            for event in chunk {
                args.extend([
                    Some(event.id.to_string()),
                    Some(event.occurred.to_canonical()),
                    Some(event.event.clone()),
                    Some(event.resource_id().to_owned()),
                    Some(serde_json::to_string(event)?),
                ]);
            }
            statements.push(Statement {
                sql: format!(
                    "INSERT INTO event (id, occurred, event, resource_id, doc) VALUES {} \
                     ON CONFLICT (id) DO NOTHING",
                    values_rows(chunk.len(), &["?"; 5])
                )
                .into(),
                args,
            });
        }
        // A chunk made only of duplicates inserts nothing; that must not skip the next chunks.
        for statement in statements {
            self.writer.write(vec![statement]).await?;
        }
        Ok(())
    }

    /// Events matching `filter`, at most `limit`, with the total number that matched. The time
    /// window and exact names are narrowed in SQL; the resource conditions are checked here.
    pub async fn filter_events(
        &self,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<(Vec<Event>, i64)> {
        let now = Timestamp::now();
        let occurred = filter.occurred.as_ref();
        let since = occurred
            .and_then(|o| o.since)
            .unwrap_or(now.plus_seconds(-EVENT_RETENTION_HINT));
        let until = occurred
            .and_then(|o| o.until)
            .unwrap_or(now.plus_seconds(1.0));
        let mut sql = self.db.builder();
        sql.push("SELECT doc FROM event WHERE occurred >= ")
            .bind(SqlValue::Text(since.to_canonical()));
        sql.push(" AND occurred <= ")
            .bind(SqlValue::Text(until.to_canonical()));
        if let Some(names) = filter
            .event
            .as_ref()
            .and_then(|e| e.name.as_ref())
            .filter(|n| !n.is_empty())
        {
            sql.push(" AND event IN (");
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(SqlValue::Text(name.clone()));
            }
            sql.push(")");
        }
        let order = match filter.order {
            EventOrder::Asc => " ORDER BY occurred ASC, id",
            EventOrder::Desc => " ORDER BY occurred DESC, id DESC",
        };
        sql.push(order);
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool =>
            bind_all!(sqlx::query_as(&sql.sql), sql.args).fetch_all(pool).await)?;
        let mut events = Vec::new();
        let mut total = 0;
        for (doc,) in rows {
            let event: Event = serde_json::from_str(&doc)?;
            if filter.matches(&event) {
                total += 1;
                if events.len() < limit {
                    events.push(event);
                }
            }
        }
        Ok((events, total))
    }
}
