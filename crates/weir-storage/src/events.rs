//! Events: stored as they arrive (for `/events/filter` and the replay of `/events/out`).

use crate::db::{bind_all, on_pool};
use crate::writer::Statement;
use crate::{Result, Store};
use weir_core::events::{Event, EventFilter, EventOrder};
use weir_core::filters::SqlValue;
use weir_core::Timestamp;

/// How far back `/events/filter` looks when the filter names no `since` (Prefect's default: a day).
pub const EVENT_RETENTION_HINT: f64 = 86_400.0;

impl Store {
    /// Stores a batch of events; an event id seen before is ignored, so redelivery is harmless.
    /// The rows join the group-commit writer's next transaction.
    pub async fn insert_events(&self, events: &[Event]) -> Result<()> {
        let mut statements = Vec::with_capacity(events.len());
        for event in events {
            statements.push(Statement {
                sql: "INSERT INTO event (id, occurred, event, resource_id, doc) \
                      VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                args: vec![
                    Some(event.id.to_string()),
                    Some(event.occurred.to_canonical()),
                    Some(event.event.clone()),
                    Some(event.resource_id().to_owned()),
                    Some(serde_json::to_string(event)?),
                ],
            });
        }
        // Each event is its own guarded write: a duplicate skips only itself.
        let writes = statements.into_iter().map(|s| self.writer.write(vec![s]));
        for outcome in futures_join(writes).await {
            outcome?;
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

/// Awaits every future, in order, letting them all queue before the first completes.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    futures::future::join_all(futures).await
}
