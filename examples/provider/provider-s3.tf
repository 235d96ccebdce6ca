# The backups in an S3 bucket instead of a local folder: what a CI runner that is
# thrown away after each job needs. Credentials for the bucket come from the job's
# environment (the standard AWS chain: OIDC web identity, AWS_PROFILE, AWS_* keys,
# container or instance roles), never from this file.
provider "infrabackup" {
  ca_cert_pem = file("${path.module}/device-ca.pem")

  s3 = {
    bucket     = "acme-network-backups"
    key_prefix = "site-a"
    region     = "eu-central-1"
    sse        = "aws:kms"
    kms_key_id = "alias/network-backups"

    # Backups nobody can delete for 30 days, not even a compromised pipeline
    # (the bucket must have been created with Object Lock).
    object_lock = {
      mode           = "COMPLIANCE"
      retention_days = 30
    }
  }

  # After each successful backup of a device, delete its backups that are neither
  # among its newest 8 nor younger than 90 days. Object-Locked ones are kept.
  retention = {
    keep_last = 8
    keep_days = 90
  }

  aruba = {} # ARUBA_USERNAME / ARUBA_PASSWORD
  ilo   = {} # ILO_USERNAME / ILO_PASSWORD
}

# An S3-compatible server (MinIO, Ceph RGW, SeaweedFS, StorageGRID, versitygw...)
# with a certificate from a private CA:
#
#   s3 = {
#     bucket         = "network-backups"
#     endpoint       = "https://s3.storage.example.net:9000"
#     use_path_style = true
#     ca_cert_pem    = file("${path.module}/storage-ca.pem")
#   }
