// Role assignments, each on the one resource that needs it. The Function App's identity gets
// what the Functions host and the license code use. The principal running azd gets what the
// post-provision hook and the import command use.

@description('Name of the storage account for host storage and the license tables.')
param storageAccountName string

@description('Name of the Key Vault that holds the signing key.')
param keyVaultName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Principal (object) id of the Function App\'s user-assigned identity.')
param appPrincipalId string

@description('Object id of the principal running azd; empty skips its role assignments.')
param deployerPrincipalId string

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Kind of principal in deployerPrincipalId.')
param deployerPrincipalType string

@allowed([
  'secret'
  'key'
])
@description('Where the signing key lives: a PEM secret read by the app, or a Key Vault key that signs in the vault.')
param signingKeyKind string

// Built-in role definition ids, the same in every Azure subscription.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
var keyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424' // Key Vault Crypto User
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
var keyVaultCryptoOfficer = '14b46e9e-c2b7-41b4-b07b-48a6ebf60603' // Key Vault Crypto Officer
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

// Scope of the storage role assignments.
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// Scope of the Key Vault role assignments.
resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Scope of the telemetry role assignment.
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The Functions host keeps its keys, leases and timers in blobs and reads the Flex
// Consumption package from a container, which with an identity takes Storage Blob Data Owner.
resource appBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The Functions host uses queues for its internal work, such as blob trigger receipts.
resource appQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The license code creates, reads and writes the Catalog, Customers and Environments tables.
resource appTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The license code reads the PEM signing key secret, and reading is all it may do.
resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (signingKeyKind == 'secret') {
  name: guid(keyVault.id, appPrincipalId, keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The license code reads the public key and asks Key Vault to sign, so the private key never
// leaves the vault.
resource appCryptoUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (signingKeyKind == 'key') {
  name: guid(keyVault.id, appPrincipalId, keyVaultCryptoUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Application Insights has local authentication disabled, so the host and the OpenTelemetry
// exporter send telemetry with an Entra ID token of this identity.
resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The post-provision hook creates the signing key secret when it is missing and reads it to
// print the public key.
resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployerPrincipalId != '' && signingKeyKind == 'secret') {
  name: guid(keyVault.id, deployerPrincipalId, keyVaultSecretsOfficer)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

// The post-provision hook creates the Key Vault key when it is missing and downloads its
// public key.
resource deployerCryptoOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployerPrincipalId != '' && signingKeyKind == 'key') {
  name: guid(keyVault.id, deployerPrincipalId, keyVaultCryptoOfficer)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

// `python -m licensing import` run by the operator writes to the deployed tables.
resource deployerTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployerPrincipalId != '') {
  name: guid(storage.id, deployerPrincipalId, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}
