# One IAM role per Kubernetes ServiceAccount (IRSA), each allowed exactly what its pods call.
#
# A function's permissions come from terraform/topology.json, which derives them from the
# topology: producers put events on the bus, client functions describe it (readiness), `audit`
# writes its table (and `admin`, `archive-audit` and `reconcile` read it), `archive-audit` and
# `reconcile` write the audit archive, each function reads only its own secrets, `notify` publishes to the notification topics, `accounts` stores the KYC
# documents and `admin` reads them. The IntegrationSource of a
# route runs as `<consumer>-queue-reader` and may only receive, delete and re-hide messages of
# its own queue. Role names are "<resource prefix>-<service account>", which is what
# `python -m shared.deploy.render` writes into the EKS overlay's role-arn annotations.

locals {
  issuer = replace(var.oidc_provider_url, "https://", "")

  service_accounts = merge(
    { for name, function in var.functions : name => function.service_account },
    { for consumer, route in var.routes : "${consumer}-queue-reader" => route.queue_reader_service_account },
  )
}

data "aws_iam_policy_document" "trust" {
  for_each = local.service_accounts

  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${each.value}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "service_account" {
  for_each = local.service_accounts

  name                 = "${var.name_prefix}-${each.value}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
  tags                 = merge(var.tags, { service_account = each.value })
}

data "aws_iam_policy_document" "function" {
  for_each = var.functions

  dynamic "statement" {
    for_each = each.value.put_events ? [1] : []
    content {
      sid       = "PublishEvents"
      actions   = ["events:PutEvents"]
      resources = [var.bus_arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.describe_bus ? [1] : []
    content {
      sid       = "CheckBusForReadiness"
      actions   = ["events:DescribeEventBus"]
      resources = [var.bus_arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.audit_table ? [1] : []
    content {
      sid = "AppendAndReadAuditChain"
      actions = [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
      ]
      resources = [var.audit_table_arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.audit_table ? [1] : []
    content {
      sid       = "UseAuditTableKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.tables_kms_key_arn]
    }
  }

  # The audit routes, the daily export and the reconciliation read the chain and its index.
  dynamic "statement" {
    for_each = each.value.audit_table_read ? [1] : []
    content {
      sid       = "ReadAuditChain"
      actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
      resources = [var.audit_table_arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.audit_table_read ? [1] : []
    content {
      sid       = "DecryptAuditTable"
      actions   = ["kms:Decrypt"]
      resources = [var.tables_kms_key_arn]
    }
  }

  # The exports and the reports are written (and compared with what is there) under the
  # archive's key; object lock keeps every version, and nothing here may bypass it.
  dynamic "statement" {
    for_each = each.value.audit_archive_write ? [1] : []
    content {
      sid       = "WriteAuditArchive"
      actions   = ["s3:PutObject", "s3:GetObject"]
      resources = ["${var.audit_archive_bucket_arn}/audit/*", "${var.audit_archive_bucket_arn}/reports/*"]
    }
  }

  dynamic "statement" {
    for_each = each.value.audit_archive_write ? [1] : []
    content {
      sid       = "EncryptAuditArchive"
      actions   = ["kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.audit_archive_kms_key_arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.publish_notifications ? [1] : []
    content {
      sid = "PublishNotifications"
      # CreateTopic only returns the ARN of an existing topic: the Notifier resolves ARNs so.
      actions   = ["sns:Publish", "sns:CreateTopic"]
      resources = var.topic_arns
    }
  }

  # `accounts` stores identity documents, encrypted under their key, and removes one whose
  # record could not be written.
  dynamic "statement" {
    for_each = each.value.kyc_documents_write ? [1] : []
    content {
      sid       = "StoreKycDocuments"
      actions   = ["s3:PutObject", "s3:DeleteObject"]
      resources = ["${var.kyc_documents_bucket_arn}/documents/*"]
    }
  }

  dynamic "statement" {
    for_each = each.value.kyc_documents_write ? [1] : []
    content {
      sid       = "EncryptKycDocuments"
      actions   = ["kms:DescribeKey", "kms:GenerateDataKey"]
      resources = [var.kyc_documents_kms_key_arn]
    }
  }

  # `sweep-sagas` deletes the documents of erased users whose retention period has ended.
  dynamic "statement" {
    for_each = each.value.kyc_documents_delete ? [1] : []
    content {
      sid       = "ShredKycDocuments"
      actions   = ["s3:DeleteObject"]
      resources = ["${var.kyc_documents_bucket_arn}/documents/*"]
    }
  }

  # `admin` shows a document to support and admins.
  dynamic "statement" {
    for_each = each.value.kyc_documents_read ? [1] : []
    content {
      sid       = "ReadKycDocuments"
      actions   = ["s3:GetObject"]
      resources = ["${var.kyc_documents_bucket_arn}/documents/*"]
    }
  }

  dynamic "statement" {
    for_each = each.value.kyc_documents_read ? [1] : []
    content {
      sid       = "DecryptKycDocuments"
      actions   = ["kms:DescribeKey", "kms:Decrypt"]
      resources = [var.kyc_documents_kms_key_arn]
    }
  }

  # The functions that make or open users' data keys (shared.privacy): wrapped and unwrapped by
  # KMS under the personal data key, never exported.
  dynamic "statement" {
    for_each = each.value.personal_data_keys ? [1] : []
    content {
      sid       = "WrapPersonalDataKeys"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.personal_data_kms_key_arn]
    }
  }

  # Only the secrets the function uses (shared/function_secrets.py): `users` alone the signing
  # key ring, the client functions the verification keys, `accounts` alone the secret key.
  dynamic "statement" {
    for_each = length(each.value.secrets) > 0 ? [1] : []
    content {
      sid       = "ReadOwnSecrets"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = [for name in each.value.secrets : var.secret_arns[name]]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.secrets) > 0 ? [1] : []
    content {
      sid       = "DecryptOwnSecrets"
      actions   = ["kms:Decrypt"]
      resources = [var.secrets_kms_key_arn]
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = {
    for name, function in var.functions : name => function
    if function.put_events || function.describe_bus || function.audit_table || function.publish_notifications
    || function.kyc_documents_write || function.kyc_documents_read || function.kyc_documents_delete || function.audit_table_read
    || function.audit_archive_write || function.personal_data_keys || length(function.secrets) > 0
  }

  name   = "${var.name_prefix}-${each.key}"
  role   = aws_iam_role.service_account[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

data "aws_iam_policy_document" "queue_reader" {
  for_each = var.routes

  statement {
    sid = "ReadOwnQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [var.queue_arns[each.key]]
  }
}

resource "aws_iam_role_policy" "queue_reader" {
  for_each = var.routes

  name   = "${var.name_prefix}-${each.key}-queue-reader"
  role   = aws_iam_role.service_account["${each.key}-queue-reader"].id
  policy = data.aws_iam_policy_document.queue_reader[each.key].json
}
