"""``fst serve``: a local HTTP server and the page that runs ONNX models in the browser."""
