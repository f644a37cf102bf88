"""kleinapp: Klein routes for a hello-world service."""

import yaml
from klein import Klein

app = Klein()


@app.route("/")
def home(request):
    return yaml.safe_dump({"hello": "klein"}).encode()
