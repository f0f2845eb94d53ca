"""The Similarity tab: start a run, live progress, groups. Every endpoint here checks the plan on the server."""
from datetime import datetime, UTC

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from zeuge_lite import analysis, review
from zeuge_lite import queries_review as qr
from zeuge_lite import queries_similarity as qs
from zeuge_lite.access import batch_or_404, can_write
from zeuge_lite.db import get_db
from zeuge_lite.report import TIER_LABELS
from zeuge_lite.plans import PLANS, plan_allows_similarity
from zeuge_lite.views import memo, similarity_batch, storage, thresholds_from, view_state
from zeuge_lite.views.batches import render_tab

bp = Blueprint("similarity", __name__, url_prefix="/batches")


@bp.route("/<int:batch_id>/similarity")
@login_required
def tab(batch_id):
    """The Similarity tab; on a free plan it shows the upgrade prompt instead."""
    batch = batch_or_404(batch_id)
    if not plan_allows_similarity(batch["plan"]):
        return render_tab("similarity/tab.html", batch, active="similarity", plans=PLANS, allowed=False)
    return render_tab("similarity/tab.html", batch, active="similarity", plans=PLANS, allowed=True,
                      **_panel_context(batch))


def _panel_context(batch):
    run = analysis.run_as_shown(get_db(), batch["id"], current_app.config["RUN_STALE_SECONDS"])
    return {"run": run, "progress": _progress(run), "thresholds": thresholds_from(request.args)}


def _progress(run):
    """Rate and time left of an active run, from its counters."""
    if not run or run["status"] != "running" or not run["started_at"] or not run["done"]:
        return {}
    started = datetime.fromisoformat(run["started_at"]).replace(tzinfo=UTC)
    elapsed = max(1e-3, (datetime.now(UTC) - started).total_seconds())
    rate = run["done"] / elapsed
    left = (run["total"] - run["done"]) / rate if rate else None
    return {"rate": rate, "seconds_left": left}


@bp.route("/<int:batch_id>/similarity/run", methods=("POST",))
@login_required
def start(batch_id):
    """Start an analysis, or return the one already running (double click, second tab); a plain form post (a
    click before htmx has loaded) goes back to the tab, which shows the run."""
    batch = similarity_batch(batch_id, write=True)
    run = start_run(batch_id)
    if request.form.get("answer") == "page" and not request.htmx:
        return redirect(url_for("similarity.tab", batch_id=batch_id), code=303)
    return _progress_fragment(batch, run)


def start_run(batch_id):
    """Queue an analysis of the batch (or return the active one) and return its run row."""
    conn, config = get_db(), current_app.config
    settings = analysis.AnalysisSettings(config["MODEL"], config["MODEL_DIR"], config["MAX_IMAGE_PIXELS"],
                                         config["ANALYSIS_WORKERS"])
    run, created = analysis.start_or_get_run(conn, batch_id, settings.model, settings.as_dict(), current_user.id,
                                             config["RUN_STALE_SECONDS"])
    if created:
        from zeuge_lite.tasks import analyse_batch
        analyse_batch(run["id"], config["DATABASE"], config["STORAGE_DIR"], settings.as_dict())
    return analysis.run_as_shown(conn, batch_id, config["RUN_STALE_SECONDS"])


@bp.route("/<int:batch_id>/similarity/progress")
@login_required
def progress(batch_id):
    """The progress fragment; it polls itself only while the run is active."""
    batch = similarity_batch(batch_id)
    return _progress_fragment(batch, analysis.run_as_shown(get_db(), batch_id, current_app.config["RUN_STALE_SECONDS"]))


@bp.route("/<int:batch_id>/similarity/cancel", methods=("POST",))
@login_required
def cancel(batch_id):
    """Ask the active run to stop; a plain form post (a click before htmx has loaded) goes back to the tab."""
    batch = similarity_batch(batch_id, write=True)
    conn = get_db()
    run = qs.active_run(conn, batch_id)
    if run:
        qs.request_cancel(conn, run["id"])
    if request.form.get("answer") == "page" and not request.htmx:
        return redirect(url_for("similarity.tab", batch_id=batch_id), code=303)
    return _progress_fragment(batch, analysis.run_as_shown(conn, batch_id, current_app.config["RUN_STALE_SECONDS"]))


def _progress_fragment(batch, run):
    return render_template("similarity/_progress.html", batch=batch, run=run, progress=_progress(run),
                           writable=can_write(batch), thresholds=thresholds_from(request.args))


PAGE_SIZE = 30
SORTS = {"score": lambda found: (-found[0].score, -len(found[1])),
         "size": lambda found: (-len(found[1]), -found[0].score)}


@bp.route("/<int:batch_id>/similarity/groups")
@login_required
def groups(batch_id):
    """The groups of the latest analysis at the chosen sensitivity, filter and sort; a page at a time."""
    batch = similarity_batch(batch_id)
    thresholds = thresholds_from(request.args)
    tier = request.args.get("tier", "")
    shown = [found for found in batch_groups(batch, thresholds) if not tier or found[0].tier == tier]
    shown.sort(key=SORTS.get(request.args.get("sort"), SORTS["score"]))
    page = max(1, request.args.get("page", 1, type=int))
    template = "similarity/_group_cards.html" if page > 1 else "similarity/_groups.html"
    conn = get_db()
    response = make_response(render_template(template, batch=batch, thresholds=thresholds, total=len(shown), page=page,
                           overview=batch_overview(batch, thresholds) if page == 1 else None,
                           cards=cards_of(batch, shown[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]),
                           page_size=PAGE_SIZE, more=len(shown) > page * PAGE_SIZE, tier=tier,
                           sort=request.args.get("sort", "score"), open_key=request.args.get("open", ""),
                           writable=can_write(batch),
                           errors=qs.batch_feature_errors(conn, batch_id, current_app.config["MODEL"]),
                           dismissed_count=len(qr.dismissals_in_batch(conn, batch["archive_id"], batch_id))))
    if page == 1:  # the tab's own URL carries the view state, so a reload or a shared link shows the same groups
        response.headers["HX-Replace-Url"] = url_for("similarity.tab", batch_id=batch_id, **view_state("page"))
    return response


def batch_groups(batch, thresholds):
    """[(Group, item ids)] of a batch at these thresholds, dismissals applied: computed once per change."""
    return analysis.current_groups(memo(), get_db(), batch, current_app.config["MODEL"], thresholds)


RESOLVABLE = ("exact", "near")


def batch_resolutions(batch, thresholds, tiers=RESOLVABLE):
    """How resolving the batch's exact and near groups would go (keeper, the rest), remembered with its groups."""
    conn, model = get_db(), current_app.config["MODEL"]
    key = ("resolutions", batch["id"], model, thresholds, tiers, qs.groups_generation(conn, batch["id"]))
    return memo().get(key, lambda: review.resolutions(conn, storage(), batch["id"], batch_groups(batch, thresholds),
                                                      tiers))


def batch_overview(batch, thresholds):
    """Groups per tier, photos involved, and what resolving exact and near groups would free."""
    found = batch_groups(batch, thresholds)
    tiers = {tier: {"groups": 0, "photos": 0} for tier in TIER_LABELS}
    for group, ids in found:
        tiers[group.tier]["groups"] += 1
        tiers[group.tier]["photos"] += len(ids)
    for tier, row in review.overview(batch_resolutions(batch, thresholds)).items():
        tiers[tier].update(doomed=row["doomed"], bytes=row["bytes"])
    return tiers


def cards_of(batch, found):
    """Group cards for some of a batch's groups."""
    return review.cards(get_db(), batch["id"], found)
