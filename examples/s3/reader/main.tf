# Another configuration — another pipeline, another runner, no access to the disk of
# the one that made the backups (../pipeline) — finds the latest backup of each
# device in the bucket. It contacts no device, so it needs no device credentials;
# reading the bucket needs s3:ListBucket and s3:GetObject only.

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
  type    = string
  default = "site-a"
}

variable "region" {
  type    = string
  default = null
}

variable "endpoint" {
  type    = string
  default = null
}

variable "s3_ca_cert_pem_file" {
  type    = string
  default = null
}

variable "conductors" {
  description = "Names of the conductors' backups (the backup resources' name)."
  type        = set(string)
  default     = []
}

variable "ilos" {
  description = "Names of the iLOs' backups (by default, the servers' serial numbers)."
  type        = set(string)
  default     = []
}

variable "apstras" {
  description = "Names of the Apstra servers' backups (the backup resources' name)."
  type        = set(string)
  default     = []
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

data "infrabackup_aruba_conductor_backup" "this" {
  for_each = var.conductors
  name     = each.key
}

data "infrabackup_ilo_backup" "this" {
  for_each = var.ilos
  name     = each.key
}

data "infrabackup_apstra_backup" "this" {
  for_each = var.apstras
  name     = each.key
}

output "latest_conductor_backups" {
  description = "The latest complete backup of each conductor: when it finished, and its running configuration in the bucket."
  value = {
    for name, b in data.infrabackup_aruba_conductor_backup.this : name => {
      completed_at   = b.completed_at
      running_config = [for f in b.files : f.location if f.kind == "running-config"][0]
      sha256         = b.running_config_sha256
    }
  }
}

output "latest_ilo_backups" {
  description = "The latest complete backup of each iLO: the object to restore from, and its SHA-256."
  value = {
    for name, b in data.infrabackup_ilo_backup.this : name => {
      completed_at     = b.completed_at
      firmware_version = b.firmware_version
      backup           = b.files[0].location
      sha256           = b.sha256
      backup_id        = b.id # what infrabackup_ilo_restore's backup_id takes
    }
  }
}

output "latest_apstra_device_configs" {
  description = "Where the last deployed configuration of every managed device of each Apstra server is in the bucket: server => blueprint/device label => key."
  value = {
    for name, b in data.infrabackup_apstra_backup.this : name => merge([
      for bp in b.blueprints_backed_up : { for d in bp.devices : "${bp.label}/${d.label}" => d.key }
    ]...)
  }
}

# Restoring is destructive and belongs in a configuration applied on purpose, but it
# reads the same bucket: infrabackup_ilo_restore streams the backup from the bucket
# to the iLO, checking it against the SHA-256 recorded at backup time.
#
# resource "infrabackup_ilo_restore" "web01" {
#   host      = var.ilos["web01"].host
#   backup_id = data.infrabackup_ilo_backup.this["web01"].id
#   lifecycle {
#     ignore_changes = [backup_id] # a newer backup must not restore again by itself
#   }
# }
