//! `/`: the dashboard. Counts come from the console's projection (messages
//! per day by channel and direction, consent changes) and from the
//! supervision state (alerts), all through the reader's barrier; charts are
//! SVG drawn here by [`super::charts`].

use super::charts::{self, Series};
use super::projection::{DAY_MICROS, day_of};
use super::{Layout, PageError, Section};
use crate::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use custos_auth::{CsrfToken, Principal};
use custos_model::{Severity, Timestamp};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `?days=N`: the window, 7 to 90 days ending today (UTC).
#[derive(Debug, Deserialize)]
pub(super) struct DashQuery {
    days: Option<i64>,
}

/// A figure on a tile.
pub(super) struct Tile {
    label: &'static str,
    value: String,
    note: String,
}

/// A chart with its legend.
pub(super) struct Chart {
    title: String,
    svg: String,
    legend: Vec<(String, String)>,
    note: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/dashboard.html")]
pub(super) struct DashboardPage {
    layout: Layout,
    days: i64,
    tiles: Vec<Tile>,
    charts: Vec<Chart>,
    scoped: bool,
}

fn chart(title: &str, svg: String, series: &[Series], note: String) -> Chart {
    Chart {
        title: title.to_string(),
        svg,
        legend: series
            .iter()
            .map(|s| (s.name.clone(), s.class.clone()))
            .collect(),
        note,
    }
}

/// The day labels of the window, `MM-DD`.
fn labels(first: i64, days: i64) -> Vec<String> {
    (first..first + days)
        .map(|d| {
            jiff::Timestamp::from_second(d * 86_400)
                .map(|t| t.strftime("%m-%d").to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// The dashboard, or the reader's first page if the dashboard is not theirs.
pub(super) async fn page(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Query(q): Query<DashQuery>,
) -> Result<Response, PageError> {
    if !Section::Dashboard.allows(&p) {
        return match Section::ALL.into_iter().find(|s| s.allows(&p)) {
            Some(s) => Ok(Redirect::to(s.path()).into_response()),
            None => Err(PageError::Forbidden("the console")),
        };
    }
    let days = q.days.unwrap_or(30).clamp(7, 90);
    let now = Timestamp::now();
    let today = day_of(now);
    let first = today - days + 1;
    let since = Timestamp::from_micros(first * DAY_MICROS);
    let labels = labels(first, days);
    let n = days as usize;
    let slot = move |day: i64| -> Option<usize> {
        (day >= first && day <= today).then(|| (day - first) as usize)
    };
    let journal = state.journal.clone();
    let console = state.console.clone();
    let supervision = state.supervision.clone();
    let scope = p.scope.clone();
    let (tiles, charts) = tokio::task::spawn_blocking(move || -> Result<_, PageError> {
        // Messages and consent from the projection, through the barrier.
        let (barrier, by_channel, by_direction, consent, total) = console.with(&journal, |proj| {
            let barrier = proj.barrier(&scope);
            let mut by_channel: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            let mut by_direction: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
            let mut total = 0u64;
            for (key, count) in &proj.messages {
                let Some(i) = slot(key.day) else { continue };
                if !barrier.is_open()
                    && !barrier.custodian(barrier.custodian_of(&key.party))
                {
                    continue;
                }
                by_channel.entry(key.channel.clone()).or_insert_with(|| vec![0; n])[i] += count;
                by_direction.entry(key.direction).or_insert_with(|| vec![0; n])[i] += count;
                total += count;
            }
            // Consent changes belong to no custodian: firm-wide readers only.
            let consent = barrier.is_open().then(|| {
                let mut ins = vec![0; n];
                let mut outs = vec![0; n];
                for (&(day, opt_in), count) in &proj.consent_daily {
                    if let Some(i) = slot(day) {
                        if opt_in {
                            ins[i] += count;
                        } else {
                            outs[i] += count;
                        }
                    }
                }
                (ins, outs)
            });
            (barrier, by_channel, by_direction, consent, total)
        })?;

        // Alerts from the supervision state, through the same barrier.
        let mut by_policy: BTreeMap<String, [u64; 4]> = BTreeMap::new();
        let mut backlog = [0u64; 5];
        let mut open = 0u64;
        let mut oldest: Option<Timestamp> = None;
        let mut complaints = vec![0u64; n];
        let mut complaint_policy = false;
        if let Some(s) = &supervision {
            s.with(|sup| {
                complaint_policy = sup.state.policies.values().any(|pol| {
                    pol.enabled && pol.current().source.contains("category = \"complaint\"")
                });
                for a in sup.state.alerts.values() {
                    if !barrier.custodian(a.raised.custodian.as_deref()) {
                        continue;
                    }
                    if a.raised_at >= since {
                        let sev = Severity::ALL
                            .iter()
                            .position(|s| *s == a.raised.severity)
                            .unwrap_or(0);
                        by_policy.entry(a.raised.title.clone()).or_default()[sev] += 1;
                        if a.raised.category == "complaint"
                            && let Some(i) = slot(day_of(a.raised_at))
                        {
                            complaints[i] += 1;
                        }
                    }
                    if a.is_open() {
                        open += 1;
                        oldest = Some(oldest.map_or(a.raised_at, |o| o.min(a.raised_at)));
                        let age_days = (now.as_micros() - a.raised_at.as_micros()) / DAY_MICROS;
                        let bucket = match age_days {
                            0 => 0,
                            1..=2 => 1,
                            3..=6 => 2,
                            7..=29 => 3,
                            _ => 4,
                        };
                        backlog[bucket] += 1;
                    }
                }
            });
        }

        let tiles = vec![
            Tile {
                label: "Messages",
                value: total.to_string(),
                note: format!("last {days} days"),
            },
            Tile {
                label: "Open alerts",
                value: open.to_string(),
                note: "awaiting review".into(),
            },
            Tile {
                label: "Oldest open alert",
                value: oldest.map_or("none".into(), |o| super::age(o, now)),
                note: "age of the backlog".into(),
            },
            Tile {
                label: "Complaints",
                value: complaints.iter().sum::<u64>().to_string(),
                note: format!("last {days} days"),
            },
        ];

        let mut out = Vec::new();
        let channel_series: Vec<Series> = by_channel
            .into_iter()
            .enumerate()
            .map(|(i, (name, values))| Series {
                name,
                class: format!("s{}", i % 8),
                values,
            })
            .collect();
        out.push(chart(
            "Messages per channel per day",
            charts::column_chart("msg", "Messages per channel per day", &labels, &channel_series),
            &channel_series,
            String::new(),
        ));
        let dir_series: Vec<Series> = ["inbound", "outbound", "internal"]
            .into_iter()
            .enumerate()
            .map(|(i, d)| Series {
                name: d.to_string(),
                class: format!("s{i}"),
                values: by_direction.get(d).cloned().unwrap_or_else(|| vec![0; n]),
            })
            .collect();
        out.push(chart(
            "Inbound and outbound per day",
            charts::line_chart("dir", "Inbound and outbound per day", &labels, &dir_series),
            &dir_series,
            String::new(),
        ));
        if let Some((ins, outs)) = consent {
            let s = vec![
                Series {
                    name: "opt-ins".into(),
                    class: "s2".into(),
                    values: ins,
                },
                Series {
                    name: "opt-outs".into(),
                    class: "s3".into(),
                    values: outs,
                },
            ];
            out.push(chart(
                "Opt-ins and opt-outs per day",
                charts::column_chart("consent", "Opt-ins and opt-outs per day", &labels, &s),
                &s,
                String::new(),
            ));
        }
        let policy_labels: Vec<String> = by_policy.keys().cloned().collect();
        let sev_series: Vec<Series> = Severity::ALL
            .iter()
            .enumerate()
            .map(|(i, sev)| Series {
                name: sev.name().to_string(),
                class: format!("sev-{}", sev.name()),
                values: by_policy.values().map(|v| v[i]).collect(),
            })
            .collect();
        out.push(chart(
            "Alerts by policy and severity",
            charts::bar_chart("alerts", "Alerts by policy and severity", &policy_labels, &sev_series),
            &sev_series,
            if policy_labels.is_empty() {
                format!("No alerts in the last {days} days.")
            } else {
                String::new()
            },
        ));
        let age_labels: Vec<String> = ["under 1 day", "1–3 days", "3–7 days", "7–30 days", "over 30 days"]
            .into_iter()
            .map(str::to_string)
            .collect();
        let backlog_series = vec![Series {
            name: "open alerts".into(),
            class: "s4".into(),
            values: backlog.to_vec(),
        }];
        out.push(chart(
            "Review backlog by age",
            charts::column_chart("backlog", "Review backlog by age", &age_labels, &backlog_series),
            &backlog_series,
            format!("{open} open alerts."),
        ));
        let complaint_series = vec![Series {
            name: "complaints".into(),
            class: "s5".into(),
            values: complaints,
        }];
        out.push(chart(
            "Complaints per day",
            charts::column_chart("complaints", "Complaints per day", &labels, &complaint_series),
            &complaint_series,
            if complaint_policy {
                "Alerts of the complaint category (the starter library's \"complaints\" policy).".into()
            } else {
                "No active policy of the complaint category: load the starter library's \"complaints\" policy to count complaints.".into()
            },
        ));
        Ok((tiles, out))
    })
    .await??;
    Ok(DashboardPage {
        layout: Layout::new(&p, &csrf, Section::Dashboard, "Dashboard"),
        days,
        tiles,
        charts,
        scoped: p.scope != custos_auth::Scope::All,
    }
    .into_response())
}
