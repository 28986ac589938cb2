"""bmlocal's own routes beside the cloud's API: the dashboard, followed logs, the ops JSON
and the metrics."""
from flask import Flask

from bmlocal.api.auth import Auth
from bmlocal.runtime.service import JobService
from bmlocal.runtime.views import Views
from bmlocal.web import dashboard, instrument, ops_api, stream


def install(app: Flask, service: JobService, auth: Auth, views: Views) -> None:
    instrument.count_requests(app)
    app.register_blueprint(stream.blueprint(service, auth))
    app.register_blueprint(ops_api.blueprint(service, auth, views))
    app.register_blueprint(instrument.blueprint(auth, views))
    app.register_blueprint(dashboard.blueprint(service, auth, views))
