"""Amazon Web Services: the boto3 client (credentials, endpoints, CA bundle, bounded retries of throttling) and AWS
errors made readable. boto3 is an optional extra (``pip install 'jwks-tool[aws]'``), imported only when AWS is used."""
