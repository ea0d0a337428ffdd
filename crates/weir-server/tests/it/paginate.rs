//! `/flow_runs/paginate`, `/flows/paginate` and `/deployments/paginate` on both backends: Prefect
//! 3.9.1's `{results, count, limit, pages, page}` answers over the `/filter` bodies.

use super::*;
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;
use weir_testkit::server_test;

server_test!(
    flow_runs_paginate_in_pages_that_cover_every_match_once,
    |server| {
        let c = client(&server);
        let etl = c.create_flow("etl").await.unwrap();
        let other = c.create_flow("other").await.unwrap();
        for _ in 0..5 {
            call(&c, Method::POST, "/flow_runs/", json!({"flow_id": etl.id})).await;
        }
        call(
            &c,
            Method::POST,
            "/flow_runs/",
            json!({"flow_id": other.id}),
        )
        .await;

        let filter = json!({"flows": {"name": {"any_": ["etl"]}}, "limit": 2, "sort": "ID_DESC"});
        let mut seen = HashSet::new();
        for page in 1..=3 {
            let mut body = filter.clone();
            body["page"] = json!(page);
            let (status, answer) = call(&c, Method::POST, "/flow_runs/paginate", body).await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["count"], 5);
            assert_eq!(answer["limit"], 2);
            assert_eq!(answer["pages"], 3);
            assert_eq!(answer["page"], page);
            let results = answer["results"].as_array().unwrap();
            assert_eq!(results.len(), if page == 3 { 1 } else { 2 });
            for run in results {
                assert_eq!(run["flow_id"], json!(etl.id));
                assert!(seen.insert(run["id"].clone()), "no run on two pages");
            }
        }
        assert_eq!(seen.len(), 5);

        let (status, answer) = call(&c, Method::POST, "/flow_runs/paginate", json!(null)).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["count"], 6);
        assert_eq!(answer["limit"], 200, "Prefect's default limit");
        assert_eq!(
            (answer["pages"].clone(), answer["page"].clone()),
            (json!(1), json!(1))
        );

        let (status, answer) =
            call(&c, Method::POST, "/flow_runs/paginate", json!({"page": 9})).await;
        assert_eq!(status, 200);
        assert_eq!(answer["results"], json!([]), "past the last page");

        let (status, answer) =
            call(&c, Method::POST, "/flow_runs/paginate", json!({"page": 0})).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer.to_string().contains("page"), "{answer}");
    }
);

server_test!(flows_and_deployments_paginate_the_same_way, |server| {
    let c = client(&server);
    call(
        &c,
        Method::POST,
        "/work_pools/",
        json!({"name": "p", "type": "process"}),
    )
    .await;
    for name in ["a", "b", "c"] {
        let flow = c.create_flow(name).await.unwrap();
        let body = json!({"name": format!("{name}-deployment"), "flow_id": flow.id, "work_pool_name": "p"});
        let (status, answer) = call(&c, Method::POST, "/deployments/", body).await;
        assert!(status == 201 || status == 200, "{answer}");
    }
    let (status, flows) = call(
        &c,
        Method::POST,
        "/flows/paginate",
        json!({"limit": 2, "page": 2}),
    )
    .await;
    assert_eq!(status, 200, "{flows}");
    assert_eq!(
        (flows["count"].clone(), flows["pages"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(flows["results"].as_array().unwrap().len(), 1);

    let body =
        json!({"deployments": {"name": {"any_": ["a-deployment", "b-deployment"]}}, "limit": 1});
    let (status, deployments) = call(&c, Method::POST, "/deployments/paginate", body).await;
    assert_eq!(status, 200, "{deployments}");
    assert_eq!(deployments["count"], 2);
    assert_eq!(deployments["pages"], 2);
    assert_eq!(deployments["page"], 1);
    assert_eq!(deployments["limit"], 1);
    assert_eq!(deployments["results"].as_array().unwrap().len(), 1);
});
