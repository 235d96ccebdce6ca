# The weekly backup report, read from the bucket the backups landed in
# (examples/s3/pipeline): run after the backup apply, also when it failed, by
# github-actions.yml and gitlab-ci.yml beside this folder.
#
#   terraform apply -auto-approve -input=false
#   terraform output -raw summary_markdown    # the table for a job summary
#   terraform output -raw junit_xml           # the JUnit report, a test case per device
#   terraform output -raw devices_not_ok      # 0 when every device is backed up and fresh
#
# It contacts no device and needs no device credentials: only read access to the
# bucket (s3:ListBucket and s3:GetObject), from the standard AWS chain.

terraform {
  required_providers {
    infrabackup = {
      source = "infrabackup/infrabackup"
    }
  }
}

variable "bucket" {
  type = string
}

variable "key_prefix" {
  description = "Folder of the site's backups in the bucket (as in the backup configuration)."
  type        = string
  default     = "site-a"
}

variable "region" {
  type    = string
  default = null
}

variable "endpoint" {
  description = "Base URL of an S3-compatible server; null for AWS S3."
  type        = string
  default     = null
}

variable "s3_ca_cert_pem_file" {
  description = "PEM file of the CA that signed the S3-compatible server's certificate; null when a public CA did."
  type        = string
  default     = null
}

variable "max_age" {
  description = "A device without a complete backup this recent is stale: whole days (8d) or a duration (36h)."
  type        = string
  default     = "8d"
}

provider "infrabackup" {
  s3 = {
    bucket         = var.bucket
    key_prefix     = var.key_prefix
    region         = var.region
    endpoint       = var.endpoint
    use_path_style = var.endpoint != null
    ca_cert_pem    = var.s3_ca_cert_pem_file == null ? null : file(var.s3_ca_cert_pem_file)
  }
}

data "infrabackup_backups" "all" {
  max_age = var.max_age
}

# Shown as a warning in the job's log; the pipeline fails on devices_not_ok.
check "every_device_backed_up" {
  assert {
    condition     = data.infrabackup_backups.all.totals.failed == 0 && data.infrabackup_backups.all.totals.stale == 0
    error_message = "${data.infrabackup_backups.all.totals.failed} failed and ${data.infrabackup_backups.all.totals.stale} stale of ${data.infrabackup_backups.all.totals.devices} devices: see the summary."
  }
}

output "summary_markdown" {
  value = data.infrabackup_backups.all.summary_markdown
}

output "junit_xml" {
  value = data.infrabackup_backups.all.junit_xml
}

output "totals" {
  value = data.infrabackup_backups.all.totals
}

output "devices_not_ok" {
  description = "Devices whose last attempt failed or that are stale."
  value       = length([for d in data.infrabackup_backups.all.devices : d if d.status != "ok"])
}

output "failures" {
  description = "Why each device that failed did: kind/name => step and message."
  value = {
    for d in data.infrabackup_backups.all.devices : "${d.kind}/${d.name}" => "${d.last_attempt.step}: ${d.last_attempt.message}"
    if try(d.last_attempt.outcome, "") == "failed"
  }
}
